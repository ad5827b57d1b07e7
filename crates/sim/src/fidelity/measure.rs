//! Measuring one decoded game: each port's frames are cut into stretches of consecutive rows
//! with the same character, read into a few plain columns, and searched for the situations
//! each [`Quantity`] describes.

use super::actions::{self, *};
use super::{Figure, Quantity};
use exphil_replay::{ExternalCharacter, Game, PostFrame, Velocities, FLAG_FAST_FALL, FLAG_HITLAG};
use serde::Serialize;
use std::collections::BTreeMap;

/// Frames per action-state id.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ActionHistogram {
    /// Frames seen in each action-state id.
    pub frames: BTreeMap<u16, u64>,
}

impl ActionHistogram {
    /// Counts `n` more frames of action `id`.
    pub fn add(&mut self, id: u16, n: u64) {
        *self.frames.entry(id).or_default() += n;
    }

    /// All frames counted.
    pub fn total(&self) -> u64 {
        self.frames.values().sum()
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &ActionHistogram) {
        for (&id, &n) in &other.frames {
            self.add(id, n);
        }
    }

    /// Whether action `id` was ever seen.
    pub fn has(&self, id: u16) -> bool {
        self.frames.get(&id).is_some_and(|&n| n > 0)
    }
}

/// One hop (a jump from the ground): its first-airborne-frame vertical speed, apex height above
/// the takeoff and frames to apex. Hops are told apart as full or short by that speed when a
/// character's figures are made: the most common speed (to 0.01) and the most common one
/// differing from it by over 0.15 are the two kinds, the higher being the full hop; a hop within
/// 0.05 of neither is left out. With one kind only, all are taken as full hops.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Hop {
    /// Vertical speed on the first airborne frame.
    pub takeoff_speed: f64,
    /// Apex above the last jump-squat frame's y.
    pub height: f64,
    /// Frames from the first airborne frame (1) to the apex.
    pub apex_frames: u32,
}

/// Everything measured about one character.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CharacterSamples {
    /// Frames seen.
    pub frames: u64,
    /// Ports (one per game and port) this character was seen on.
    pub ports: u32,
    /// Samples of each quantity except the hop ones (see `hops`).
    pub samples: BTreeMap<Quantity, Vec<f64>>,
    /// Hops, classed as full or short in [`CharacterSamples::figures`].
    pub hops: Vec<Hop>,
    /// Frames per action state.
    pub actions: ActionHistogram,
}

impl CharacterSamples {
    fn push(&mut self, q: Quantity, v: f64) {
        if v.is_finite() {
            self.samples.entry(q).or_default().push(v);
        }
    }

    /// Adds another character's samples (the same character from more games).
    pub fn merge(&mut self, other: &CharacterSamples) {
        self.frames += other.frames;
        self.ports += other.ports;
        for (q, v) in &other.samples {
            self.samples.entry(*q).or_default().extend_from_slice(v);
        }
        self.hops.extend_from_slice(&other.hops);
        self.actions.merge(&other.actions);
    }

    /// The samples of `q` (the hop quantities from the classified hops).
    pub fn samples_of(&self, q: Quantity) -> Vec<f64> {
        use Quantity::*;
        let (full, short) = self.classify_hops();
        let pick = |hops: &[Hop], f: fn(&Hop) -> f64| hops.iter().map(f).collect();
        match q {
            FullHopSpeed => pick(&full, |h| h.takeoff_speed),
            FullHopHeight => pick(&full, |h| h.height),
            FullHopApexFrames => pick(&full, |h| h.apex_frames as f64),
            ShortHopSpeed => pick(&short, |h| h.takeoff_speed),
            ShortHopHeight => pick(&short, |h| h.height),
            ShortHopApexFrames => pick(&short, |h| h.apex_frames as f64),
            _ => self.samples.get(&q).cloned().unwrap_or_default(),
        }
    }

    /// The figure of every quantity with samples.
    pub fn figures(&self) -> BTreeMap<Quantity, Figure> {
        Quantity::ALL
            .iter()
            .filter_map(|&q| Some((q, Figure::of(q, &self.samples_of(q))?)))
            .collect()
    }

    /// (full hops, short hops), told apart by takeoff speed (see [`Hop`]).
    fn classify_hops(&self) -> (Vec<Hop>, Vec<Hop>) {
        let key = |v: f64| (v * 100.0).round() as i64;
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for h in &self.hops {
            *counts.entry(key(h.takeoff_speed)).or_default() += 1;
        }
        let mode = |skip: Option<i64>| {
            counts
                .iter()
                .filter(|(k, _)| skip.is_none_or(|s| (**k - s).abs() > 15))
                .max_by_key(|(k, n)| (**n, -**k))
                .map(|(k, _)| *k as f64 / 100.0)
        };
        let Some(first) = mode(None) else {
            return (Vec::new(), Vec::new());
        };
        let second = mode(Some(key(first)));
        let near = |c: f64| -> Vec<Hop> {
            self.hops
                .iter()
                .filter(|h| (h.takeoff_speed - c).abs() <= 0.05)
                .copied()
                .collect()
        };
        match second {
            Some(s) => {
                let (hi, lo) = if s > first { (s, first) } else { (first, s) };
                (near(hi), near(lo))
            }
            None => (near(first), Vec::new()),
        }
    }
}

/// Measurements from any number of games, per character (external id).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Measurements {
    /// Games measured.
    pub games: usize,
    /// Per character.
    pub characters: BTreeMap<ExternalCharacter, CharacterSamples>,
}

impl Measurements {
    /// Adds another set of measurements.
    pub fn merge(&mut self, other: &Measurements) {
        self.games += other.games;
        for (c, s) in &other.characters {
            self.characters.entry(*c).or_default().merge(s);
        }
    }
}

/// Measures one game: every port's leader (Ice Climbers' Popo; not Nana), per character.
pub fn measure(game: &Game) -> Measurements {
    let mut out = Measurements {
        games: 1,
        ..Measurements::default()
    };
    for port in &game.frames.ports {
        let mut seen: Vec<ExternalCharacter> = Vec::new();
        let mut stretch: Vec<Frame> = Vec::new();
        let mut current: Option<ExternalCharacter> = None;
        for cf in &port.leader {
            let ch = cf.and_then(|c| c.post.character.to_external());
            if ch != current || cf.is_none() {
                if let Some(c) = current {
                    measure_stretch(out.characters.entry(c).or_default(), &stretch);
                }
                stretch.clear();
                current = ch;
            }
            if let (Some(c), Some(cf)) = (ch, cf) {
                if !seen.contains(&c) {
                    seen.push(c);
                }
                stretch.push(Frame::of(&cf.post, cf.pre.joystick.x, cf.pre.joystick.y));
            }
        }
        if let Some(c) = current {
            measure_stretch(out.characters.entry(c).or_default(), &stretch);
        }
        for c in seen {
            out.characters.entry(c).or_default().ports += 1;
        }
    }
    out
}

/// The columns the rules read, for one frame.
#[derive(Clone, Copy, Debug)]
struct Frame {
    action: u16,
    x: f32,
    y: f32,
    airborne: Option<bool>,
    jumps: Option<u8>,
    hitlag: bool,
    fast_fall: Option<bool>,
    velocities: Option<Velocities>,
    stick_x: f32,
    stick_y: f32,
    l_cancel: Option<u8>,
}

impl Frame {
    fn of(p: &PostFrame, stick_x: f32, stick_y: f32) -> Frame {
        let hitlag = match p.hitlag_remaining {
            Some(h) => h > 0.0,
            None => p.flag(FLAG_HITLAG).unwrap_or(false),
        };
        Frame {
            action: p.action_state,
            x: p.x,
            y: p.y,
            airborne: p.is_airborne(),
            jumps: p.jumps_remaining,
            hitlag,
            fast_fall: p.flag(FLAG_FAST_FALL),
            velocities: p.velocities,
            stick_x,
            stick_y,
            l_cancel: p.l_cancel,
        }
    }

    fn knockback_free(&self) -> bool {
        self.velocities
            .is_none_or(|v| v.knockback_x == 0.0 && v.knockback_y == 0.0)
    }

    /// No hitlag, no knockback, not flagged grounded.
    fn clean_air(&self) -> bool {
        !self.hitlag && self.knockback_free() && self.airborne != Some(false)
    }

    fn plain_air(&self) -> bool {
        is_plain_air(self.action) && self.clean_air()
    }

    fn fast_falling(&self) -> bool {
        self.fast_fall == Some(true)
    }
}

/// One stretch of consecutive frames of one character on one port.
struct Stretch<'a> {
    f: &'a [Frame],
}

impl Stretch<'_> {
    /// Vertical speed at `i`: self-induced y velocity, else the change of y.
    fn vy(&self, i: usize) -> Option<f32> {
        match self.f[i].velocities {
            Some(v) => Some(v.self_y),
            None => (i > 0).then(|| self.f[i].y - self.f[i - 1].y),
        }
    }

    /// Ground x speed at `i`: self-induced ground x velocity, else the change of x.
    fn vx_ground(&self, i: usize) -> Option<f32> {
        match self.f[i].velocities {
            Some(v) => Some(v.self_x_ground),
            None => (i > 0).then(|| self.f[i].x - self.f[i - 1].x),
        }
    }

    /// Air x speed at `i`: self-induced air x velocity, else the change of x.
    fn vx_air(&self, i: usize) -> Option<f32> {
        match self.f[i].velocities {
            Some(v) => Some(v.self_x_air),
            None => (i > 0).then(|| self.f[i].x - self.f[i - 1].x),
        }
    }

    /// Whether a jump starts at `i` (jumps remaining drop, or a new jump action).
    fn jump_starts(&self, i: usize) -> bool {
        let (a, b) = (&self.f[i - 1], &self.f[i]);
        let dropped = matches!((a.jumps, b.jumps), (Some(j0), Some(j1)) if j1 < j0);
        dropped || (b.action != a.action && (JUMP_F..=28).contains(&b.action))
    }

    /// The apex frame of a rise starting at `start` (the first frame already risen), followed
    /// through clean plain-air and aerial frames and `also` (the jump's own action), with no
    /// jump and no fast fall, until the next frame (in one of those states too) is lower; a
    /// stretch of equal heights counts as the apex when it is followed by a fall and breaks the
    /// rise (a freeze: hitlag where it is not recorded) when followed by a rise. `None` when
    /// the rise is broken first.
    fn apex(&self, start: usize, also: u16) -> Option<usize> {
        let f = self.f;
        let jumps = f[start].jumps;
        let in_rise = |c: &Frame| {
            (is_plain_air(c.action) || is_aerial(c.action) || c.action == also)
                && c.clean_air()
                && c.jumps == jumps
        };
        let mut i = start;
        loop {
            let c = &f[i];
            if !in_rise(c) || c.fast_falling() {
                return None;
            }
            if i > start && is_plain_air(c.action) && self.jump_starts(i) {
                return None;
            }
            let mut j = i + 1;
            while f.get(j).is_some_and(|n| n.y == c.y) {
                j += 1;
            }
            let next = f.get(j)?;
            if !in_rise(&f[i + 1]) || !in_rise(next) {
                return None;
            }
            if next.y < c.y {
                return Some(i);
            }
            if j > i + 1 {
                return None;
            }
            i = j;
        }
    }
}

/// Runs of one action: (first index, length).
fn runs(f: &[Frame]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, fr) in f.iter().enumerate() {
        match out.last_mut() {
            Some((s, n)) if f[*s].action == fr.action => *n += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

/// The landing-lag quantities of aerial landing `action` (70–74): (L-cancelled, not).
fn landing_air_quantities(action: u16) -> Option<(Quantity, Quantity)> {
    use Quantity::*;
    Some(match action.checked_sub(LANDING_AIR_N)? {
        0 => (LandingAirNLCancel, LandingAirN),
        1 => (LandingAirFLCancel, LandingAirF),
        2 => (LandingAirBLCancel, LandingAirB),
        3 => (LandingAirHiLCancel, LandingAirHi),
        4 => (LandingAirLwLCancel, LandingAirLw),
        _ => return None,
    })
}

/// Frames of steady input and state the speed caps ask for.
const STEADY_FRAMES: usize = 8;

fn measure_stretch(out: &mut CharacterSamples, f: &[Frame]) {
    if f.is_empty() {
        return;
    }
    out.frames += f.len() as u64;
    for fr in f {
        out.actions.add(fr.action, 1);
    }
    let s = Stretch { f };
    falling(out, &s);
    action_runs(out, &s);
    speed_caps(out, &s);
    aerial_jumps(out, &s);
}

/// Gravity, terminal and fast-fall speed: consecutive plain-air frames.
fn falling(out: &mut CharacterSamples, s: &Stretch) {
    use Quantity::*;
    for i in 1..s.f.len() {
        let (a, b) = (&s.f[i - 1], &s.f[i]);
        if !a.plain_air() || !b.plain_air() || s.jump_starts(i) {
            continue;
        }
        let (Some(v0), Some(v1)) = (s.vy(i - 1), s.vy(i)) else {
            continue;
        };
        if a.fast_falling() && b.fast_falling() {
            out.push(FastFallSpeed, -v1 as f64);
        } else if !a.fast_falling() && !b.fast_falling() {
            let g = (v0 - v1) as f64;
            if g > 1e-4 && g < 0.5 {
                out.push(Gravity, g);
            }
            let flagged = a.fast_fall.is_some() && b.fast_fall.is_some();
            if flagged && v1 < -0.3 && (v1 - v0).abs() < 1e-4 {
                out.push(TerminalSpeed, -v1 as f64);
            }
        }
    }
}

/// The longest airdodge (EscapeAir frames) whose landing counts as a wavedash.
const WAVEDASH_DODGE_FRAMES: usize = 10;

/// The airdodge angles below the horizontal (degrees) whose wavedashes' slides are measured.
const WAVEDASH_ANGLES: std::ops::RangeInclusive<f32> = 40.0..=50.0;

/// The stick x, the run's way, on the last jump-squat frame of a measured running jump.
const TAKEOFF_STICK: f32 = 0.8;

/// The rules on runs of one action: jump squat and hops, dash, landings, airdodges, wavedashes.
fn action_runs(out: &mut CharacterSamples, s: &Stretch) {
    use Quantity::*;
    let f = s.f;
    let r = runs(f);
    for k in 1..r.len() {
        let (start, len) = r[k];
        let end = start + len - 1;
        let prev = &f[start - 1];
        let next = r.get(k + 1).map(|&(n, _)| &f[n]);
        let action = f[start].action;
        match action {
            KNEE_BEND => {
                let Some(next) = next else { continue };
                if next.action != JUMP_F && next.action != actions::JUMP_B {
                    continue;
                }
                out.push(JumpSquatFrames, len as f64);
                let t0 = end + 1;
                if let (Some(v0), Some(apex)) = (s.vy(t0), s.apex(t0, next.action)) {
                    out.hops.push(Hop {
                        takeoff_speed: v0 as f64,
                        height: (f[apex].y - f[end].y) as f64,
                        apex_frames: (apex - t0 + 1) as u32,
                    });
                }
                if prev.action == RUN {
                    if let (Some(g), Some(a)) = (s.vx_ground(start - 1), s.vx_air(t0)) {
                        let held = f[end].stick_x * g.signum() >= TAKEOFF_STICK;
                        if g.abs() > 0.3 && held && f[t0].clean_air() {
                            out.push(JumpTakeoffSpeed, a.abs() as f64);
                        }
                    }
                }
            }
            DASH => {
                if prev.action == WAIT && f[start].airborne != Some(true) {
                    if let Some(v) = s.vx_ground(start) {
                        out.push(DashFirstFrameSpeed, v.abs() as f64);
                    }
                }
                if next.is_some_and(|n| n.action == RUN) {
                    out.push(DashFrames, len as f64);
                }
            }
            LANDING => {
                if next.is_some() && prev.plain_air() {
                    out.push(LandingFrames, len as f64);
                }
            }
            LANDING_FALL_SPECIAL => {
                // A wavedash: an airdodge that meets the ground within its first 10 frames
                // (a late one has lost its speed: a landing, not a wavedash).
                let dodge = (0..start)
                    .rev()
                    .take_while(|&i| f[i].action == ESCAPE_AIR)
                    .count();
                if next.is_some() && prev.action == ESCAPE_AIR && dodge <= WAVEDASH_DODGE_FRAMES {
                    out.push(WavedashLandingFrames, len as f64);
                    let first = start - dodge;
                    let jumped = (0..first)
                        .rev()
                        .take_while(|&i| f[i].action == JUMP_F || f[i].action == actions::JUMP_B)
                        .last()
                        .is_some_and(|i| i > 0 && f[i - 1].action == KNEE_BEND);
                    let angle = f[first].stick_y.atan2(f[first].stick_x.abs()).to_degrees();
                    if jumped && WAVEDASH_ANGLES.contains(&-angle) {
                        out.push(WavedashSlide, (f[end].x - prev.x).abs() as f64);
                    }
                }
            }
            ESCAPE_AIR => {
                let Some(next) = next else { continue };
                let airborne = f[start..=end].iter().all(|x| x.airborne != Some(false))
                    && next.airborne != Some(false);
                if airborne && (is_helpless(next.action) || is_plain_air(next.action)) {
                    out.push(AirdodgeFrames, len as f64);
                    let helpless = is_helpless(next.action);
                    out.push(AirdodgeHelplessShare, if helpless { 1.0 } else { 0.0 });
                }
            }
            _ => {
                let Some((cancelled, plain)) = landing_air_quantities(action) else {
                    continue;
                };
                let Some(next) = next else { continue };
                // Ended on its own, on the ground: not slid off a platform, not hit.
                let on_ground = next.airborne != Some(true) && !is_plain_air(next.action);
                let clean = !next.hitlag && next.knockback_free();
                if !is_aerial(prev.action) || !on_ground || !clean {
                    continue;
                }
                let status = std::iter::once(prev)
                    .chain(&f[start..=end])
                    .filter_map(|x| x.l_cancel)
                    .find(|&c| c != 0);
                match status {
                    Some(1) => out.push(cancelled, len as f64),
                    Some(2) => out.push(plain, len as f64),
                    _ => {}
                }
            }
        }
    }
    // Running off an edge: Run straight into a plain fall (recorded velocities only).
    for i in 1..f.len() {
        let (a, b) = (&f[i - 1], &f[i]);
        if a.action == RUN && (FALL..=31).contains(&b.action) && b.clean_air() {
            if let (Some(g), Some(v)) = (a.velocities, b.velocities) {
                if g.self_x_ground.abs() > 0.3 {
                    out.push(Quantity::RunOffSpeed, v.self_x_air.abs() as f64);
                }
            }
        }
    }
}

/// Run speed and air drift at steady state, over the stick's x.
fn speed_caps(out: &mut CharacterSamples, s: &Stretch) {
    let f = s.f;
    for i in STEADY_FRAMES..f.len() {
        let window = &f[i - STEADY_FRAMES..=i];
        let sx = f[i].stick_x;
        if sx.abs() < 0.3 || window.iter().any(|w| (w.stick_x - sx).abs() > 0.0125) {
            continue;
        }
        if window.iter().all(|w| w.action == RUN && !w.hitlag) {
            if let (Some(v0), Some(v1)) = (s.vx_ground(i - 1), s.vx_ground(i)) {
                if (v1 - v0).abs() < 1e-3 && v1.abs() > 0.1 {
                    out.push(Quantity::RunSpeedPerStick, (v1.abs() / sx.abs()) as f64);
                }
            }
        }
        let jumps = f[i].jumps;
        if window.iter().all(|w| w.plain_air() && w.jumps == jumps) {
            if let (Some(v0), Some(v1)) = (s.vx_air(i - 1), s.vx_air(i)) {
                if (v1 - v0).abs() < 1e-3 && v1.abs() > 0.05 && v1.signum() == sx.signum() {
                    out.push(Quantity::AirDriftPerStick, (v1.abs() / sx.abs()) as f64);
                }
            }
        }
    }
}

/// Aerial jumps, numbered from the last time the character stood or hung on a ledge.
fn aerial_jumps(out: &mut CharacterSamples, s: &Stretch) {
    let f = s.f;
    let mut count = 0usize;
    for i in 1..f.len() {
        let (a, b) = (&f[i - 1], &f[i]);
        let regained = matches!((a.jumps, b.jumps), (Some(j0), Some(j1)) if j1 > j0);
        if b.airborne == Some(false) || is_ledge(b.action) || b.action <= REBIRTH_WAIT || regained {
            count = 0;
            continue;
        }
        let airborne = a.airborne == Some(true) && b.airborne == Some(true);
        let dropped = matches!((a.jumps, b.jumps), (Some(j0), Some(j1)) if j1 < j0);
        if !(airborne && dropped) {
            continue;
        }
        if b.y <= a.y {
            // No rise (Peach's float, a jump spent by a special): not a jump to measure.
            continue;
        }
        count += 1;
        let (Some(q), Some(apex)) = (Quantity::aerial_jump(count), s.apex(i, b.action)) else {
            continue;
        };
        out.push(q, (f[apex].y - a.y) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn air(action: u16, y: f32, vy: f32) -> Frame {
        Frame {
            action,
            x: 0.0,
            y,
            airborne: Some(true),
            jumps: Some(1),
            hitlag: false,
            fast_fall: Some(false),
            velocities: Some(Velocities {
                self_y: vy,
                ..Velocities::default()
            }),
            stick_x: 0.0,
            stick_y: 0.0,
            l_cancel: Some(0),
        }
    }

    #[test]
    fn a_fall_gives_gravity_and_terminal_speed() {
        let mut frames = Vec::new();
        let (mut y, mut vy) = (50.0f32, 1.0f32);
        for _ in 0..40 {
            vy = (vy - 0.25).max(-2.0);
            y += vy;
            frames.push(air(FALL, y, vy));
        }
        let mut out = CharacterSamples::default();
        measure_stretch(&mut out, &frames);
        let fig = out.figures();
        assert!((fig[&Quantity::Gravity].value - 0.25).abs() < 1e-5);
        assert!((fig[&Quantity::TerminalSpeed].value - 2.0).abs() < 1e-6);
        assert_eq!(out.frames, 40);
        assert_eq!(out.actions.frames[&FALL], 40);
    }

    #[test]
    fn hops_split_into_full_and_short_by_takeoff_speed() {
        let hop = |v: f64, h: f64| Hop {
            takeoff_speed: v,
            height: h,
            apex_frames: 1,
        };
        let c = CharacterSamples {
            hops: vec![
                hop(3.68, 31.0),
                hop(2.1, 10.0),
                hop(3.68, 31.5),
                hop(9.0, 1.0),
            ],
            ..CharacterSamples::default()
        };
        assert_eq!(c.samples_of(Quantity::FullHopHeight), vec![31.0, 31.5]);
        assert_eq!(c.samples_of(Quantity::ShortHopHeight), vec![10.0]);
    }
}
