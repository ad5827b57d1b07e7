//! From a decoded game to training examples: which player(s) to learn from, and the pairing of
//! what a live bot has seen at decision time with the input it must produce.
//!
//! # Pairing (version [`PAIRING_VERSION`])
//!
//! Frames are the rows of the decoded game (one per distinct frame id, in id order), the **whole
//! game including the −123..−1 countdown**: the bot is connected during the countdown too, and the
//! inputs held there are real inputs. Delay is defined once, as a live bot lives it: after frame
//! `t` has been shown, the bot knows everything the game has shown through `t` (the post-frame
//! state of `t` and every controller through `t`, its own included) and decides the input of frame
//! `t + 1 + d` (`d = 0`: the next frame; UMI's `delay` means the same). For a perspective (the
//! player "me" against the other player), the example whose **target is frame `u`** with delay `d`
//! has the decision frame `t = u − 1 − d` and is:
//!
//! - **features / ids**: [`Embedder::embed`] of the state at frame id `t`, with [`FrameContext`]
//!   `{ prev_controllers: me's controllers at t, t−1, … (most recent first, up to the embedder's
//!   `prev_controllers`; ones before the first frame are left out, so they count as neutral),
//!   delay: d, player_name }` where `player_name` is me's registry id (the `player_names`
//!   argument of [`game_examples_named`]; 0, unknown, with [`game_examples`]);
//! - **targets**: [`TargetCoder::encode`] of me's own controller on frame `u`
//!   (`states[u].players[0].controller`).
//!
//! Nothing of any frame after `t` reaches the features (a property test perturbs every field of
//! every later frame). The bot's own `d` decisions still queued at `t` (for frames `t + 1 ..= t +
//! d`) are not features: play does not feed them either. [`LiveGame`] embeds a live frame by the
//! same definition, so training, evaluation and every kind of play share it.
//!
//! Examples start at the first `u` whose `u − 1 − d` is a frame of the game (so the first `d + 1`
//! frames are never targets). A frame whose state is missing (either player absent from the row)
//! has no example. A frame whose embedding returns an [`Anomaly`](exphil_embed::Anomaly) is dropped
//! and counted in [`GameExamples::anomalies`] under its component name.
//!
//! With `delay_augment = Some((lo, hi))`, every example draws its own `d` uniformly from
//! `lo..=hi` (replacing `frame_delay`), from a random stream seeded by the config seed, the port
//! and the game (its random seed and frame ids), so a rebuild draws the same delays.
//!
//! With `mirror = true`, a left/right mirrored copy of every example is appended after the
//! originals ([`mirror`] on the state, [`Controller::mirrored`] on the previous controllers,
//! [`TargetCoder::mirror`] on the targets), flagged in [`GameExamples::variant`] as
//! [`VARIANT_MIRRORED`].
//!
//! With `noise = Some(NoiseConfig { std, copies })`, `copies` Gaussian-noise copies of every
//! original example are appended after those (copy `c` of all examples, then copy `c + 1`):
//! [`add_noise`] on the state (positions ± `std`, speeds ± `std / 10`, both fighters), the same
//! previous controllers, delay and targets as the original. The normal draws come from a
//! Box–Muller transform of a random stream of its own for each copy of each example, seeded by
//! the config seed, the port, the game and the example's target frame (separate from the delay
//! stream), so a rebuild draws the same noise and no example's noise depends on another. Copy `c` (1-based) is
//! flagged as variant `VARIANT_NOISY_FIRST + c − 1`, so every block of rows has its own variant
//! and loader windows never cross one.

use exphil_embed::{add_noise, mirror, Embedder, FrameContext, TargetCoder, Targets, DELAY_VOCAB};
use exphil_replay::{ExternalCharacter, Game, Port};
use exphil_state::{states, Controller, GameState};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Whose inputs a game's examples learn.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    content = "value",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Perspective {
    /// The player on this port (1–4); games where the port is empty are skipped
    /// (`--player-port N`).
    Port(u8),
    /// The port(s) playing one of these characters; both when both do (`--train-character X`).
    Character(Vec<ExternalCharacter>),
    /// Both players, one set of examples each (`--dual-port`).
    #[default]
    Dual,
}

/// Gaussian-noise augmentation: `copies` noisy copies of every original example.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    /// Standard deviation of the position noise in world units (speeds get `std / 10`).
    pub std: f32,
    /// Noisy copies per example (1..=4).
    pub copies: u8,
}

/// Version of the pairing of features and targets (see the module docs). Version 1 (before
/// this one) embedded the state of the target frame itself at delay 0 and left the decision
/// frame's own controller out of the features; datasets and runs record the version they were
/// built with, and play refuses version 1.
pub const PAIRING_VERSION: u32 = 2;

/// Most noisy copies per example.
pub const MAX_NOISE_COPIES: u8 = 4;

/// [`GameExamples::variant`] of an original example.
pub const VARIANT_ORIGINAL: u8 = 0;
/// [`GameExamples::variant`] of a mirrored copy.
pub const VARIANT_MIRRORED: u8 = 1;
/// [`GameExamples::variant`] of the first noisy copy (copy `c` is `VARIANT_NOISY_FIRST + c − 1`).
pub const VARIANT_NOISY_FIRST: u8 = 2;

/// How examples are made from a game.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExampleConfig {
    /// Whose inputs to learn.
    pub perspective: Perspective,
    /// Frames between the decision frame and the frame after it that the decided input is for
    /// (0..=30; 0: the next frame).
    pub frame_delay: u8,
    /// Per-example delay drawn uniformly from `min..=max` (replaces `frame_delay`).
    pub delay_augment: Option<(u8, u8)>,
    /// Append a left/right mirrored copy of every example.
    pub mirror: bool,
    /// Append Gaussian-noise copies of every original example.
    pub noise: Option<NoiseConfig>,
    /// Seed of the per-game random streams (delay augmentation, noise).
    pub seed: u64,
}

impl Default for ExampleConfig {
    fn default() -> ExampleConfig {
        ExampleConfig {
            perspective: Perspective::Dual,
            frame_delay: 0,
            delay_augment: None,
            mirror: false,
            noise: None,
            seed: 0,
        }
    }
}

/// An invalid [`ExampleConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid example config: {0}")]
pub struct ExampleConfigError(pub String);

/// The largest delay: the embedding's delay ids are `0..DELAY_VOCAB`.
pub const MAX_DELAY_FRAMES: u8 = (DELAY_VOCAB - 1) as u8;

impl ExampleConfig {
    /// Checks ports, delays and the character list.
    pub fn validate(&self) -> Result<(), ExampleConfigError> {
        let err = |m: String| Err(ExampleConfigError(m));
        match &self.perspective {
            Perspective::Port(p) if !(1..=4).contains(p) => {
                return err(format!("player port is {p}, must be 1-4"))
            }
            Perspective::Character(c) if c.is_empty() => {
                return err("train character list is empty".into())
            }
            _ => {}
        }
        if self.frame_delay > MAX_DELAY_FRAMES {
            return err(format!(
                "frame delay is {}, at most {MAX_DELAY_FRAMES}",
                self.frame_delay
            ));
        }
        if let Some((lo, hi)) = self.delay_augment {
            if lo > hi || hi > MAX_DELAY_FRAMES {
                return err(format!(
                    "delay augmentation range {lo}..={hi} must be ordered and within 0..={MAX_DELAY_FRAMES}"
                ));
            }
        }
        if let Some(n) = self.noise {
            if !(n.std.is_finite() && n.std > 0.0) {
                return err(format!("noise std is {}, must be finite and > 0", n.std));
            }
            if !(1..=MAX_NOISE_COPIES).contains(&n.copies) {
                return err(format!(
                    "noise copies is {}, must be 1-{MAX_NOISE_COPIES}",
                    n.copies
                ));
            }
        }
        Ok(())
    }
}

/// Why a game gives no examples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// The game does not have exactly two players.
    NotTwoPlayers {
        /// Players in Game Start.
        players: usize,
    },
    /// `--player-port` names a port without a player.
    PortAbsent {
        /// The port asked for.
        port: u8,
    },
    /// Neither player plays a `--train-character`.
    CharacterAbsent {
        /// The characters asked for.
        wanted: Vec<ExternalCharacter>,
        /// The characters in the game.
        present: Vec<ExternalCharacter>,
    },
    /// Every frame was missing, dropped or too early for the delay.
    NoExamples,
}

fn char_name(c: ExternalCharacter) -> String {
    c.name().map_or_else(|| format!("#{}", c.0), str::to_owned)
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotTwoPlayers { players } => {
                write!(f, "{players} players, examples need exactly 2")
            }
            SkipReason::PortAbsent { port } => write!(f, "no player on port {port}"),
            SkipReason::CharacterAbsent { wanted, present } => {
                let list = |v: &[ExternalCharacter]| {
                    v.iter()
                        .map(|c| char_name(*c))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                write!(
                    f,
                    "no player plays {} (game has {})",
                    list(wanted),
                    list(present)
                )
            }
            SkipReason::NoExamples => write!(f, "no frame gave an example"),
        }
    }
}

/// One perspective's examples from one game, as row-major columns (row `i` is example `i`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GameExamples {
    /// The learning player's port (1–4).
    pub port: u8,
    /// Content hash of the source replay; [`game_examples`] leaves it empty for the caller (who
    /// has the file bytes) to fill.
    pub source: String,
    /// Frame id `u` of each example (the frame of the target).
    pub frame_ids: Vec<i32>,
    /// Delay of each example (the decision frame is `u − 1 − delay`).
    pub delays: Vec<u8>,
    /// Which variant each example is: [`VARIANT_ORIGINAL`], [`VARIANT_MIRRORED`], or noisy copy
    /// `c` as `VARIANT_NOISY_FIRST + c − 1`.
    pub variant: Vec<u8>,
    /// `n × layout.features` features.
    pub features: Vec<f32>,
    /// `n × layout.ids` integer ids.
    pub ids: Vec<u32>,
    /// Controller targets at `u`.
    pub targets: Vec<Targets>,
    /// Frames dropped for an embedding anomaly, by component.
    pub anomalies: BTreeMap<String, u64>,
}

impl GameExamples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.frame_ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.frame_ids.is_empty()
    }

    /// How many examples are mirrored copies.
    pub fn mirrored(&self) -> usize {
        self.variant
            .iter()
            .filter(|&&v| v == VARIANT_MIRRORED)
            .count()
    }

    /// How many examples are noisy copies.
    pub fn noisy(&self) -> usize {
        self.variant
            .iter()
            .filter(|&&v| v >= VARIANT_NOISY_FIRST)
            .count()
    }
}

/// The ports whose inputs are learned from `game`, in port order.
pub fn perspective_ports(game: &Game, p: &Perspective) -> Result<Vec<Port>, SkipReason> {
    let players = &game.start.players;
    if players.len() != 2 {
        return Err(SkipReason::NotTwoPlayers {
            players: players.len(),
        });
    }
    let ports: Vec<Port> = match p {
        Perspective::Dual => players.iter().map(|p| p.port).collect(),
        Perspective::Port(n) => match players.iter().find(|p| p.port.number() == *n) {
            Some(pl) => vec![pl.port],
            None => return Err(SkipReason::PortAbsent { port: *n }),
        },
        Perspective::Character(chars) => {
            let v: Vec<Port> = players
                .iter()
                .filter(|p| chars.contains(&p.character))
                .map(|p| p.port)
                .collect();
            if v.is_empty() {
                return Err(SkipReason::CharacterAbsent {
                    wanted: chars.clone(),
                    present: players.iter().map(|p| p.character).collect(),
                });
            }
            v
        }
    };
    Ok(ports)
}

/// Seed of a game's delay stream for one port: stable for the same game and config.
fn game_seed(game: &Game, port: Port, seed: u64) -> u64 {
    let ids = &game.frames.id;
    let mut key = Vec::with_capacity(32);
    key.extend_from_slice(&seed.to_le_bytes());
    key.push(port.number());
    key.extend_from_slice(&game.start.random_seed.to_le_bytes());
    key.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    key.extend_from_slice(&ids.first().copied().unwrap_or(0).to_le_bytes());
    key.extend_from_slice(&ids.last().copied().unwrap_or(0).to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&key)
}

/// The examples of `game`, one [`GameExamples`] per learning port (see the module docs for the
/// pairing), with player-name id 0 (unknown) for everyone: [`game_examples_named`] with
/// `[0; 4]`. `cfg` must be valid ([`ExampleConfig::validate`]); an invalid delay is clamped to
/// [`MAX_DELAY_FRAMES`].
pub fn game_examples(
    game: &Game,
    embedder: &Embedder,
    coder: &TargetCoder,
    cfg: &ExampleConfig,
) -> Result<Vec<GameExamples>, SkipReason> {
    game_examples_named(game, embedder, coder, cfg, [0; 4])
}

/// [`game_examples`], with `player_names[port − 1]` the player-name id (from a
/// [`PlayerRegistry`](crate::PlayerRegistry)) of the player on each port, passed in
/// [`FrameContext::player_name`] for the learning player's examples.
pub fn game_examples_named(
    game: &Game,
    embedder: &Embedder,
    coder: &TargetCoder,
    cfg: &ExampleConfig,
    player_names: [u32; 4],
) -> Result<Vec<GameExamples>, SkipReason> {
    let ports = perspective_ports(game, &cfg.perspective)?;
    let players = &game.start.players;
    let mut out = Vec::with_capacity(ports.len());
    for me in ports {
        // Two players (checked above): the opponent is the other one.
        let opponent = players
            .iter()
            .map(|p| p.port)
            .find(|p| *p != me)
            .unwrap_or(me);
        let name = player_names[me.index()];
        let ex = port_examples(game, me, opponent, embedder, coder, cfg, name);
        out.push(ex);
    }
    if out.iter().all(GameExamples::is_empty) {
        return Err(SkipReason::NoExamples);
    }
    Ok(out)
}

fn port_examples(
    game: &Game,
    me: Port,
    opponent: Port,
    embedder: &Embedder,
    coder: &TargetCoder,
    cfg: &ExampleConfig,
    player_name: u32,
) -> GameExamples {
    let all: Vec<GameState> = states(game, me, opponent)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let layout = embedder.layout();
    let (nf, ni) = (layout.features, layout.ids);
    let k = embedder.config().prev_controllers;
    let mut ex = GameExamples {
        port: me.number(),
        ..GameExamples::default()
    };
    let Some(first_id) = all.first().map(|s| s.frame) else {
        return ex;
    };
    // Position of a frame id's state. States are in increasing id order; when the ids are
    // contiguous (every complete game) it is an offset, otherwise a binary search, so a damaged
    // file with absurd ids costs no memory.
    let last_id = all.last().map_or(first_id, |s| s.frame);
    let contiguous = i64::from(last_id) - i64::from(first_id) + 1 == all.len() as i64;
    let pos = |id: i32| -> Option<usize> {
        if contiguous {
            let off = usize::try_from(id.checked_sub(first_id)?).ok()?;
            (off < all.len()).then_some(off)
        } else {
            all.binary_search_by_key(&id, |s| s.frame).ok()
        }
    };
    let at = |id: i32| -> Option<&GameState> { pos(id).map(|i| &all[i]) };
    let mut rng = rand::rngs::StdRng::seed_from_u64(game_seed(game, me, cfg.seed));
    let fixed = cfg.frame_delay.min(MAX_DELAY_FRAMES);
    let n_max = all.len();
    let copies = 1 + cfg.mirror as usize + cfg.noise.map_or(0, |n| n.copies as usize);
    ex.features.reserve(n_max * nf * copies);
    ex.ids.reserve(n_max * ni * copies);
    let mut prev: Vec<Controller> = Vec::with_capacity(k);
    let mut f = vec![0f32; nf];
    let mut ids = vec![0u32; ni];
    // States kept for the mirrored and noisy passes: (index of the source state, delay).
    let mut kept: Vec<(u32, u8)> = Vec::new();
    for target_state in &all {
        let t = target_state.frame;
        let d = match cfg.delay_augment {
            Some((lo, hi)) => rng.gen_range(lo.min(hi)..=hi.min(MAX_DELAY_FRAMES)),
            None => fixed,
        };
        let Some(si) = t.checked_sub(1 + d as i32).and_then(pos) else {
            continue;
        };
        let own = |id: i32| at(id).map(|p| p.players[0].controller);
        let one = (d, player_name);
        if let Err(a) = embed_one(embedder, &all[si], own, k, one, &mut prev, &mut f, &mut ids) {
            *ex.anomalies.entry(a.component.to_owned()).or_insert(0) += 1;
            continue;
        }
        let target = coder.encode(&target_state.players[0].controller);
        ex.push_row(&f, &ids, target, t, d, VARIANT_ORIGINAL);
        if cfg.mirror || cfg.noise.is_some() {
            kept.push((si as u32, d));
        }
    }
    if cfg.mirror {
        let n = ex.frame_ids.len();
        for (row, &(si, d)) in kept.iter().enumerate().take(n) {
            let src = mirror(&all[si as usize]);
            let own = |id: i32| at(id).map(|p| p.players[0].controller.mirrored());
            let one = (d, player_name);
            if let Err(a) = embed_one(embedder, &src, own, k, one, &mut prev, &mut f, &mut ids) {
                // The original embedded cleanly; the mirror only negates, so this is not expected,
                // but it is counted rather than hidden.
                *ex.anomalies
                    .entry(format!("{} (mirrored)", a.component))
                    .or_insert(0) += 1;
                continue;
            }
            let target = coder.mirror(&ex.targets[row]);
            ex.push_row(&f, &ids, target, ex.frame_ids[row], d, VARIANT_MIRRORED);
        }
    }
    if let Some(noise) = cfg.noise {
        let n = kept.len();
        let noise_seed = game_seed(game, me, cfg.seed ^ NOISE_STREAM);
        for c in 0..noise.copies {
            for (row, &(si, d)) in kept.iter().enumerate().take(n) {
                // Each copy of each example draws from its own stream (keyed by its target
                // frame), so its noise never depends on which other examples exist: whether a
                // later frame embeds cleanly cannot change an earlier example.
                let mut key = [0u8; 13];
                key[..8].copy_from_slice(&noise_seed.to_le_bytes());
                key[8..12].copy_from_slice(&ex.frame_ids[row].to_le_bytes());
                key[12] = c;
                let mut nrng = rand::rngs::StdRng::seed_from_u64(xxhash_rust::xxh3::xxh3_64(&key));
                // Box–Muller: two uniforms give two independent N(0, 1) draws.
                let mut spare: Option<f32> = None;
                let normal = move || -> f32 {
                    if let Some(z) = spare.take() {
                        return z;
                    }
                    let u1: f64 = 1.0 - nrng.gen::<f64>(); // (0, 1]: ln is finite
                    let u2: f64 = nrng.gen::<f64>();
                    let r = (-2.0 * u1.ln()).sqrt();
                    let a = std::f64::consts::TAU * u2;
                    spare = Some((r * a.sin()) as f32);
                    (r * a.cos()) as f32
                };
                let src = add_noise(&all[si as usize], noise.std, normal);
                let own = |id: i32| at(id).map(|p| p.players[0].controller);
                let one = (d, player_name);
                if let Err(a) = embed_one(embedder, &src, own, k, one, &mut prev, &mut f, &mut ids)
                {
                    *ex.anomalies
                        .entry(format!("{} (noisy)", a.component))
                        .or_insert(0) += 1;
                    continue;
                }
                let target = ex.targets[row];
                ex.push_row(
                    &f,
                    &ids,
                    target,
                    ex.frame_ids[row],
                    d,
                    VARIANT_NOISY_FIRST + c,
                );
            }
        }
    }
    ex
}

/// Mixed into the seed of the noise stream, so it differs from the delay stream.
const NOISE_STREAM: u64 = 0x6e6f_6973_655f_7631;

/// Embeds the decision frame `src` with the player's controllers of the `k` frames ending with
/// it (`history(id)`, the player's controller on frame `id`, most recent first; stops at the
/// first missing frame), at `(delay, player_name)`.
#[allow(clippy::too_many_arguments)]
fn embed_one(
    embedder: &Embedder,
    src: &GameState,
    history: impl Fn(i32) -> Option<Controller>,
    k: usize,
    (delay, player_name): (u8, u32),
    prev: &mut Vec<Controller>,
    f: &mut [f32],
    ids: &mut [u32],
) -> Result<(), exphil_embed::Anomaly> {
    prev.clear();
    for j in 0..k as i32 {
        match history(src.frame - j) {
            Some(c) => prev.push(c),
            None => break,
        }
    }
    let ctx = FrameContext {
        prev_controllers: prev,
        delay,
        player_name,
    };
    embedder.embed(src, &ctx, f, ids)
}

/// One live game embedded frame by frame, exactly as [`game_examples`] embeds a replay's
/// examples (the pairing of the module docs): the state the policy sees (from the player's seat)
/// at the frame just shown, the player's controllers of the `k` frames ending with it (stopping
/// at a gap in frame numbers), the delay id and the player-name id. Play (UMI, Dolphin, the
/// simulator) feeds it each new frame and applies the decision to the frame `1 + delay` later.
#[derive(Clone, Debug, Default)]
pub struct LiveGame {
    /// (frame, the player's controller on that frame), oldest first, at most `k`.
    history: std::collections::VecDeque<(i32, Controller)>,
    prev: Vec<Controller>,
}

impl LiveGame {
    /// A game with no frames seen.
    pub fn new() -> LiveGame {
        LiveGame::default()
    }

    /// Forgets every frame (a new game in this slot).
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// Remembers `state`'s controller (the input the game applied on that frame), then embeds
    /// `state` at `delay` (clamped to the delay vocabulary) into `features` and `ids`. An
    /// anomaly (a value out of physical range) leaves the outputs unspecified, and the frame is
    /// still remembered.
    pub fn embed(
        &mut self,
        embedder: &Embedder,
        state: &GameState,
        delay: u8,
        player_name: u32,
        features: &mut [f32],
        ids: &mut [u32],
    ) -> Result<(), exphil_embed::Anomaly> {
        let k = embedder.config().prev_controllers;
        // A repeated or earlier frame number (a rollback) replaces what came after it.
        while self.history.back().is_some_and(|(f, _)| *f >= state.frame) {
            self.history.pop_back();
        }
        if k > 0 {
            if self.history.len() == k {
                self.history.pop_front();
            }
            self.history
                .push_back((state.frame, state.players[0].controller));
        }
        let history = &self.history;
        let own = |id: i32| {
            history
                .iter()
                .rev()
                .find(|(f, _)| *f == id)
                .map(|(_, c)| *c)
        };
        let delay = delay.min((DELAY_VOCAB - 1) as u8);
        embed_one(
            embedder,
            state,
            own,
            k,
            (delay, player_name),
            &mut self.prev,
            features,
            ids,
        )
    }
}

impl LiveGame {
    /// Like [`LiveGame::embed`], for play: a frame with out-of-range values still gives usable
    /// inputs (non-finite features become 0, the rest are clamped to ±10⁴) so a model's memory
    /// stays in step. Returns whether the frame was sound; the caller decides what to answer
    /// for one that was not.
    pub fn embed_cleaned(
        &mut self,
        embedder: &Embedder,
        state: &GameState,
        delay: u8,
        player_name: u32,
        features: &mut [f32],
        ids: &mut [u32],
    ) -> bool {
        let ok = self
            .embed(embedder, state, delay, player_name, features, ids)
            .is_ok();
        if !ok {
            for x in features.iter_mut() {
                *x = if x.is_finite() {
                    x.clamp(-1e4, 1e4)
                } else {
                    0.0
                };
            }
        }
        ok
    }
}

impl GameExamples {
    /// Appends one example row.
    pub(crate) fn push_row(
        &mut self,
        f: &[f32],
        ids: &[u32],
        target: Targets,
        frame: i32,
        delay: u8,
        variant: u8,
    ) {
        self.features.extend_from_slice(f);
        self.ids.extend_from_slice(ids);
        self.targets.push(target);
        self.frame_ids.push(frame);
        self.delays.push(delay);
        self.variant.push(variant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_validation_catches_errors() {
        assert!(ExampleConfig::default().validate().is_ok());
        let bad = [
            ExampleConfig {
                perspective: Perspective::Port(5),
                ..ExampleConfig::default()
            },
            ExampleConfig {
                perspective: Perspective::Character(vec![]),
                ..ExampleConfig::default()
            },
            ExampleConfig {
                frame_delay: 31,
                ..ExampleConfig::default()
            },
            ExampleConfig {
                delay_augment: Some((5, 2)),
                ..ExampleConfig::default()
            },
            ExampleConfig {
                delay_augment: Some((0, 40)),
                ..ExampleConfig::default()
            },
            ExampleConfig {
                noise: Some(NoiseConfig {
                    std: 0.0,
                    copies: 1,
                }),
                ..ExampleConfig::default()
            },
            ExampleConfig {
                noise: Some(NoiseConfig {
                    std: f32::NAN,
                    copies: 1,
                }),
                ..ExampleConfig::default()
            },
            ExampleConfig {
                noise: Some(NoiseConfig {
                    std: 1.0,
                    copies: 0,
                }),
                ..ExampleConfig::default()
            },
            ExampleConfig {
                noise: Some(NoiseConfig {
                    std: 1.0,
                    copies: 5,
                }),
                ..ExampleConfig::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn config_serde_round_trip() {
        let c = ExampleConfig {
            perspective: Perspective::Character(vec![ExternalCharacter(2)]),
            frame_delay: 18,
            delay_augment: Some((0, 4)),
            mirror: true,
            noise: Some(NoiseConfig {
                std: 1.5,
                copies: 2,
            }),
            seed: 7,
        };
        let s = serde_json::to_string(&c).unwrap();
        let back: ExampleConfig = serde_json::from_str(&s).unwrap();
        assert_eq!(back, c);
        let p: Perspective = serde_json::from_str(r#"{"kind":"port","value":2}"#).unwrap();
        assert_eq!(p, Perspective::Port(2));
    }
}
