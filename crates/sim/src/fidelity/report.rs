//! Real against simulated: action coverage, the per-character report (JSON and a text table),
//! and the roll-ups over replay files and over the simulator.

use super::actions::action_label;
use super::documented::documented;
use super::drill::simulate_for;
use super::measure::{measure, ActionHistogram, Measurements};
use super::{Figure, Quantity};
use crate::fighter::{Fighter, FIGHTERS};
use exphil_replay::{read_file, DecodeError, DecodeOptions, ExternalCharacter};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The share of `real`'s frames whose action-state id `sim` ever shows (0 when `real` is
/// empty).
pub fn coverage(real: &ActionHistogram, sim: &ActionHistogram) -> f64 {
    let total = real.total();
    if total == 0 {
        return 0.0;
    }
    let covered: u64 = real
        .frames
        .iter()
        .filter(|(id, _)| sim.has(**id))
        .map(|(_, n)| n)
        .sum();
    covered as f64 / total as f64
}

/// An action real games show and the simulator never does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MissingAction {
    /// Action-state id.
    pub id: u16,
    /// Its name (`special #N (id)` for a character's own ids).
    pub name: String,
    /// Share of the character's real frames in it.
    pub share: f64,
}

/// The `n` actions with the most real frames that `sim` never shows, most first.
pub fn top_missing(real: &ActionHistogram, sim: &ActionHistogram, n: usize) -> Vec<MissingAction> {
    let total = real.total().max(1) as f64;
    let mut missing: Vec<(u16, u64)> = real
        .frames
        .iter()
        .filter(|(id, &k)| k > 0 && !sim.has(**id))
        .map(|(&id, &k)| (id, k))
        .collect();
    missing.sort_by_key(|&(id, k)| (std::cmp::Reverse(k), id));
    missing
        .into_iter()
        .take(n)
        .map(|(id, k)| MissingAction {
            id,
            name: action_label(id),
            share: k as f64 / total,
        })
        .collect()
}

/// A replay that could not be measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedReplay {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: String,
}

/// Measurements over replay files, with the files that failed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rollup {
    /// Files decoded and measured.
    pub decoded: usize,
    /// Files that failed to decode, each with its error.
    pub failed: Vec<FailedReplay>,
    /// What was measured.
    pub measurements: Measurements,
}

/// Decodes and measures each replay; a file that fails is listed with its error and the rest
/// go on.
pub fn measure_replays<P: AsRef<Path>>(paths: &[P]) -> Rollup {
    let mut out = Rollup::default();
    for p in paths {
        let path = p.as_ref();
        match read_file(path, DecodeOptions::default()) {
            Ok(game) => {
                out.measurements.merge(&measure(&game));
                out.decoded += 1;
            }
            Err(e) => out.failed.push(FailedReplay {
                path: path.to_path_buf(),
                error: e.to_string(),
            }),
        }
    }
    out
}

/// Measures [`simulate_for`]'s games for every fighter in `characters` the simulator has
/// (others are skipped). The opponents in those games are measured too, so each simulated
/// character's figures pool its own games and its turns as an opponent.
pub fn measure_simulator(
    characters: &[ExternalCharacter],
    seed: u64,
) -> Result<Measurements, DecodeError> {
    let mut out = Measurements::default();
    for &c in characters {
        let Some(fighter) = Fighter::of(c) else {
            continue;
        };
        for game in simulate_for(fighter, seed)? {
            out.merge(&measure(&game));
        }
    }
    Ok(out)
}

/// The whole bench: measures `replays`, measures the simulator's games for every fighter it
/// has (seeded by `seed`), and compares them.
pub fn bench<P: AsRef<Path>>(replays: &[P], seed: u64) -> Result<Report, DecodeError> {
    let real = measure_replays(replays);
    let all: Vec<ExternalCharacter> = FIGHTERS.iter().map(|f| f.character).collect();
    let sim = measure_simulator(&all, seed)?;
    Ok(Report::new(&real, &sim))
}

/// One quantity of one character, real against simulated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The quantity.
    pub quantity: Quantity,
    /// From the real replays.
    pub real: Option<Figure>,
    /// From the simulator's games.
    pub sim: Option<Figure>,
    /// `(sim − real) / |real|`, when both exist and real is not 0.
    pub relative_error: Option<f64>,
}

/// Where a character's reference figures (the `real` column) come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// Measured from the real replays.
    Replays,
    /// Melee's documented attributes ([`super::documented::documented`]), for a simulated
    /// character the replays do not have; each such figure has 0 samples.
    Documented,
}

/// One character's comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CharacterReport {
    /// External character id.
    pub id: ExternalCharacter,
    /// Name.
    pub name: String,
    /// Whether the simulator has this character.
    pub simulated: bool,
    /// Where the reference figures come from.
    pub reference: Reference,
    /// Real frames measured.
    pub real_frames: u64,
    /// Real ports (game × port) measured.
    pub real_ports: u32,
    /// Simulated frames measured.
    pub sim_frames: u64,
    /// Every quantity with samples on either side.
    pub rows: Vec<Row>,
    /// Share of real frames in actions the simulator shows ([`coverage`]); `None` when the
    /// simulator does not have the character or the replays do not.
    pub coverage: Option<f64>,
    /// The real actions the simulator never shows, most frames first (up to 12).
    pub missing: Vec<MissingAction>,
}

/// Real against simulated, per character: every character the real replays have (those the
/// simulator has first), each quantity's figures with sample counts and relative error, the
/// action coverage and the top missing actions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Replays measured.
    pub replays: usize,
    /// Replays that failed, each with its error.
    pub failed: Vec<FailedReplay>,
    /// Simulated games measured.
    pub sim_games: usize,
    /// Per character.
    pub characters: Vec<CharacterReport>,
}

/// Target: each movement quantity within this share of the real replays' figure.
pub const MOVEMENT_TARGET: f64 = 0.02;
/// Target: the share of real frames in actions the simulator shows.
pub const COVERAGE_TARGET: f64 = 0.80;

/// How many missing actions a character's report lists.
const MISSING_LISTED: usize = 12;

/// Each quantity with a figure on either side, with the relative error where both have one.
fn rows(real: &BTreeMap<Quantity, Figure>, sim: &BTreeMap<Quantity, Figure>) -> Vec<Row> {
    Quantity::ALL
        .iter()
        .filter_map(|q| {
            let (real, sim) = (real.get(q).copied(), sim.get(q).copied());
            if real.is_none() && sim.is_none() {
                return None;
            }
            let relative_error = match (real, sim) {
                (Some(r), Some(s)) if r.value != 0.0 => Some((s.value - r.value) / r.value.abs()),
                _ => None,
            };
            Some(Row {
                quantity: *q,
                real,
                sim,
                relative_error,
            })
        })
        .collect()
}

impl Report {
    /// Compares real replays' measurements with the simulator's, and each simulated character
    /// the replays lack with its documented attributes where it has them
    /// ([`Reference::Documented`]).
    pub fn new(real: &Rollup, sim: &Measurements) -> Report {
        let mut characters: Vec<CharacterReport> = real
            .measurements
            .characters
            .iter()
            .map(|(&id, r)| {
                let s = sim.characters.get(&id);
                let sf = s.map(|s| s.figures()).unwrap_or_default();
                CharacterReport {
                    id,
                    name: id.name().unwrap_or("unknown").to_string(),
                    simulated: s.is_some(),
                    reference: Reference::Replays,
                    rows: rows(&r.figures(), &sf),
                    real_frames: r.frames,
                    real_ports: r.ports,
                    sim_frames: s.map_or(0, |s| s.frames),
                    coverage: s.map(|s| coverage(&r.actions, &s.actions)),
                    missing: s
                        .map(|s| top_missing(&r.actions, &s.actions, MISSING_LISTED))
                        .unwrap_or_default(),
                }
            })
            .collect();
        // Simulated characters the replays lack, against their documented attributes.
        for (&id, s) in &sim.characters {
            if real.measurements.characters.contains_key(&id) {
                continue;
            }
            let Some(doc) = documented(id) else {
                continue;
            };
            let rf: BTreeMap<Quantity, Figure> = doc
                .into_iter()
                .map(|(q, value)| (q, Figure { value, samples: 0 }))
                .collect();
            let sf: BTreeMap<Quantity, Figure> = s
                .figures()
                .into_iter()
                .filter(|(q, _)| rf.contains_key(q))
                .collect();
            characters.push(CharacterReport {
                id,
                name: id.name().unwrap_or("unknown").to_string(),
                simulated: true,
                reference: Reference::Documented,
                rows: rows(&rf, &sf),
                real_frames: 0,
                real_ports: 0,
                sim_frames: s.frames,
                coverage: None,
                missing: Vec::new(),
            });
        }
        characters.sort_by_key(|c| (!c.simulated, c.id));
        Report {
            replays: real.decoded,
            failed: real.failed.clone(),
            sim_games: sim.games,
            characters,
        }
    }

    /// What `exphil bench sim-fidelity` prints: the table of the simulator's characters (every
    /// character with `all`), the others named, and each simulated character against the
    /// targets ([`MOVEMENT_TARGET`], [`COVERAGE_TARGET`]).
    pub fn summary(&self, all: bool) -> String {
        let mut shown = self.clone();
        if !all {
            shown.characters.retain(|c| c.simulated);
        }
        let mut t = shown.table();
        let others: Vec<String> = self
            .characters
            .iter()
            .filter(|c| !c.simulated)
            .map(|c| format!("{} ({} frames)", c.name, c.real_frames))
            .collect();
        if !all && !others.is_empty() {
            let _ = writeln!(
                t,
                "\nIn the replays, not in the simulator (--all prints them): {}",
                others.join(", ")
            );
        }
        let _ = writeln!(
            t,
            "\nTargets: each movement quantity within {:.0}% of the replays, action coverage >= {:.0}%",
            MOVEMENT_TARGET * 100.0,
            COVERAGE_TARGET * 100.0
        );
        for c in self.characters.iter().filter(|c| c.simulated) {
            let compared: Vec<f64> = c.rows.iter().filter_map(|r| r.relative_error).collect();
            let within = compared
                .iter()
                .filter(|e| e.abs() <= MOVEMENT_TARGET)
                .count();
            let coverage = match (c.reference, c.coverage) {
                (Reference::Documented, _) => {
                    "of its documented attributes (no replays)".to_string()
                }
                (Reference::Replays, cov) => {
                    let cov = cov.unwrap_or(0.0);
                    let verdict = if cov >= COVERAGE_TARGET {
                        "met"
                    } else {
                        "short"
                    };
                    format!("coverage {:.1}% ({verdict})", cov * 100.0)
                }
            };
            let _ = writeln!(
                t,
                "  {:<12} movement {within}/{} within {:.0}%, {coverage}",
                c.name,
                compared.len(),
                MOVEMENT_TARGET * 100.0,
            );
        }
        t
    }

    /// The report as a plain-text table, one block per character.
    pub fn table(&self) -> String {
        let mut t = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            t,
            "sim fidelity: {} replays ({} failed), {} simulated games",
            self.replays,
            self.failed.len(),
            self.sim_games
        );
        for f in &self.failed {
            let _ = writeln!(t, "  failed: {}: {}", f.path.display(), f.error);
        }
        let fig = |f: Option<Figure>, reference: Reference| match (f, reference) {
            (Some(f), Reference::Documented) if f.samples == 0 => {
                format!("{:>9.3} ({:>5})", f.value, "doc")
            }
            (Some(f), _) => format!("{:>9.3} ({:>5})", f.value, f.samples),
            (None, _) => format!("{:>9} {:>7}", "-", ""),
        };
        for c in &self.characters {
            let _ = writeln!(
                t,
                "\n{} (id {}): {}; {}",
                c.name,
                c.id.0,
                match c.reference {
                    Reference::Replays =>
                        format!("real {} frames on {} ports", c.real_frames, c.real_ports),
                    Reference::Documented =>
                        "no replays, against Melee's documented attributes (doc)".to_string(),
                },
                if c.simulated {
                    format!("sim {} frames", c.sim_frames)
                } else {
                    "not in the simulator".to_string()
                }
            );
            let _ = writeln!(
                t,
                "  {:<28} {:>17} {:>17} {:>8}",
                "quantity", "real (n)", "sim (n)", "rel.err"
            );
            for r in &c.rows {
                let err = r
                    .relative_error
                    .map_or("-".to_string(), |e| format!("{:+.1}%", e * 100.0));
                let _ = writeln!(
                    t,
                    "  {:<28} {} {} {:>8}",
                    r.quantity.label(),
                    fig(r.real, c.reference),
                    fig(r.sim, Reference::Replays),
                    err
                );
            }
            if let Some(cov) = c.coverage {
                let _ = writeln!(
                    t,
                    "  action coverage: {:.1}% of real frames are in actions the simulator shows",
                    cov * 100.0
                );
                let missing: Vec<String> = c
                    .missing
                    .iter()
                    .map(|m| format!("{} {:.1}%", m.name, m.share * 100.0))
                    .collect();
                let _ = writeln!(t, "  top missing: {}", missing.join(", "));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(pairs: &[(u16, u64)]) -> ActionHistogram {
        let mut h = ActionHistogram::default();
        for &(id, n) in pairs {
            h.add(id, n);
        }
        h
    }

    #[test]
    fn coverage_is_the_share_of_real_frames_in_simulated_actions() {
        let real = hist(&[(14, 50), (29, 30), (38, 15), (350, 5)]);
        let sim = hist(&[(14, 1), (29, 900), (42, 7)]);
        assert!((coverage(&real, &sim) - 0.8).abs() < 1e-12);
        assert_eq!(coverage(&ActionHistogram::default(), &sim), 0.0);
        let missing = top_missing(&real, &sim, 1);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].id, 38);
        assert_eq!(missing[0].name, "DamageFall (38)");
        assert!((missing[0].share - 0.15).abs() < 1e-12);
        assert_eq!(top_missing(&real, &sim, 5)[1].name, "special #9 (350)");
    }

    #[test]
    fn a_file_that_fails_is_listed_and_the_rest_go_on() {
        let rollup = measure_replays(&[PathBuf::from("/nonexistent/x.slp")]);
        assert_eq!(rollup.decoded, 0);
        assert_eq!(rollup.failed.len(), 1);
        assert!(rollup.failed[0].error.contains("x.slp") || !rollup.failed[0].error.is_empty());
    }
}
