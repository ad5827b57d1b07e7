//! The simulator's fidelity bench (issue 26): movement quantities and action coverage measured
//! per character, from real replays and from simulated games **by the same code**.
//!
//! - [`measure`] reads one decoded [`exphil_replay::Game`] and collects, per character
//!   (external id), samples of each [`Quantity`] — gravity, fall speeds, jump squat, hop and
//!   aerial-jump heights, dash, run and air-drift speeds, takeoff momentum, landing lags,
//!   airdodges and wavedashes — plus a histogram of the action states shown
//!   ([`ActionHistogram`]). Each quantity's rustdoc says which frames qualify and how a sample
//!   is computed; a character's figure is the median of its samples (the mean for shares).
//! - [`simulate_for`] plays a scripted drill ([`Drill`]) and bot games for one fighter,
//!   records them with [`crate::SlpRecorder`], writes them as `.slp` bytes and decodes them
//!   back, so the simulated side goes through exactly the path real replays take.
//! - [`coverage`] and [`top_missing`] compare action histograms; [`Report`] puts real and
//!   simulated figures side by side (JSON through serde, [`Report::table`] as text);
//!   [`measure_replays`] decodes a list of files (a file that fails is listed, not fatal) and
//!   [`bench`] is the whole bench in one call.

pub mod actions;
mod documented;
mod drill;
mod measure;
mod report;

pub use documented::{aerial_jump_apex, documented};
pub use drill::{simulate_for, Drill, DRILL_STAGE};
pub use measure::{measure, ActionHistogram, CharacterSamples, Hop, Measurements};
pub use report::{
    bench, coverage, measure_replays, measure_simulator, top_missing, CharacterReport,
    FailedReplay, MissingAction, Reference, Report, Rollup, Row, COVERAGE_TARGET, MOVEMENT_TARGET,
};

use serde::Serialize;

/// A measured movement quantity. Unless said otherwise a figure is the median of its samples;
/// speeds are in game units per frame, heights in game units. "Clean" below means: no hitlag
/// (hitlag frames remaining, else the hitlag flag; unknown before 2.0 and then taken as none),
/// no knockback velocity (3.5+; unknown before), and not flagged grounded (2.0+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Per-frame loss of vertical speed: `vy[t-1] − vy[t]` over two consecutive clean frames
    /// both in a plain air state (jumps and falls, 25–34), neither fast-falling, with no jump
    /// starting at `t` (jumps remaining unchanged, no new jump action); samples outside
    /// (0, 0.5) are dropped (terminal speed, fast-fall onset). Vertical speed is the
    /// self-induced y velocity (3.5+), else the change of y position.
    Gravity,
    /// Terminal (maximum) fall speed: `−vy[t]` where two consecutive clean plain-air frames,
    /// not fast-falling, fall (`vy < −0.3`) at the same speed (within 1e-4).
    TerminalSpeed,
    /// Fast-fall speed: `−vy[t]` where two consecutive clean plain-air frames both carry the
    /// fast-fall flag (2.0+; no samples before).
    FastFallSpeed,
    /// Jump squat: the length in frames of a KneeBend (24) run that ends in JumpF/JumpB (25/26).
    JumpSquatFrames,
    /// First-airborne-frame vertical speed of hops classed as full hops (see [`Hop`]).
    FullHopSpeed,
    /// Full-hop apex above takeoff: the highest y of the rise minus the y of the last jump-squat
    /// frame; the rise is followed through clean plain-air and aerial-attack frames (65–69),
    /// not fast-falling, with no aerial jump, until y stops rising; a rise broken first is
    /// dropped.
    FullHopHeight,
    /// Full-hop frames to apex: the apex frame's index counting the first airborne frame as 1.
    FullHopApexFrames,
    /// Short-hop first-airborne-frame vertical speed.
    ShortHopSpeed,
    /// Short-hop apex above takeoff (as [`Quantity::FullHopHeight`]).
    ShortHopHeight,
    /// Short-hop frames to apex.
    ShortHopApexFrames,
    /// Height of the first aerial jump: an aerial jump is a frame where jumps remaining drops
    /// while airborne on it and the frame before (2.0+), counted from the last time the
    /// character stood or hung on a ledge; the height is the apex (followed as for hops, also
    /// through the jump's own action, e.g. Jigglypuff's 341–345) minus the y of the frame
    /// before the jump.
    AerialJump1Height,
    /// Height of the second aerial jump (Jigglypuff, Kirby).
    AerialJump2Height,
    /// Height of the third aerial jump.
    AerialJump3Height,
    /// Height of the fourth aerial jump.
    AerialJump4Height,
    /// Height of the fifth aerial jump.
    AerialJump5Height,
    /// Dash out of standing: |ground x speed| on the first frame of a Dash (20) run that
    /// directly follows Wait (14). Ground speed is the self-induced ground x velocity (3.5+),
    /// else the change of x position.
    DashFirstFrameSpeed,
    /// Dash length: frames of a Dash (20) run that turns into Run (21).
    DashFrames,
    /// Run speed over stick: |ground x speed| / |stick x| on a Run (21) frame whose last 8
    /// frames were all clean Run frames with the processed stick x steady (within 0.0125,
    /// |x| ≥ 0.3) and whose speed changed by under 1e-3 from the frame before (steady state).
    RunSpeedPerStick,
    /// Air drift over stick: |air x speed| / |stick x| on a plain-air frame whose last 8
    /// frames were all clean plain-air frames with jumps remaining unchanged and the stick x
    /// steady (within 0.0125, |x| ≥ 0.3), moving the stick's way (|speed| > 0.05), with the
    /// speed changed by under 1e-3 from the frame before.
    AirDriftPerStick,
    /// Takeoff speed of a jump out of a run: |air x speed| on the first airborne frame of a
    /// jump whose jump squat follows a Run (21) frame faster than 0.3, for jumps whose stick
    /// x on the last jump-squat frame (the one the takeoff reads) is held the run's way at 0.8
    /// or more. A stick let go or pulled back changes the takeoff by the stick's share, so
    /// mixing them would measure the players' hands, not the physics; and the speed, not its
    /// ratio to the run's, since the cap most characters reach does not depend on how fast
    /// they ran.
    JumpTakeoffSpeed,
    /// Run-off speed: |air x speed| on the first frame of a plain fall (29–31) straight after
    /// a Run (21) frame faster than 0.3 (self-induced velocities only, 3.5+: the change of
    /// position on that frame is still the ground speed's). Running off an edge keeps the
    /// ground speed up to the character's maximum air speed, so this is that cap for anyone
    /// running faster than it, whatever speed they ran off at.
    RunOffSpeed,
    /// Normal landing lag: frames of a Landing (42) run that follows a clean plain-air frame
    /// and is followed by another action. Landing is interruptible once its lag is over and
    /// players act as early as they can, so the figure is the most common length (the mode),
    /// not the median, which late inputs and the full 30-frame animation would pull up.
    LandingFrames,
    /// Neutral-air landing (70) after neutral air (65), L-cancelled (status 1 on the landing
    /// run or the frame before it, 2.0+). For every aerial landing, the run must end on its
    /// own: the next frame on the ground (not flagged airborne, not a plain air state) with no
    /// hitlag or knockback, so a landing cut short by sliding off a platform or by a hit is
    /// left out.
    LandingAirNLCancel,
    /// Neutral-air landing not L-cancelled (status 2; a landing with no status recorded is
    /// left out).
    LandingAirN,
    /// Forward-air landing (71) after forward air, L-cancelled.
    LandingAirFLCancel,
    /// Forward-air landing not L-cancelled.
    LandingAirF,
    /// Back-air landing (72) after back air, L-cancelled.
    LandingAirBLCancel,
    /// Back-air landing not L-cancelled.
    LandingAirB,
    /// Up-air landing (73) after up air, L-cancelled.
    LandingAirHiLCancel,
    /// Up-air landing not L-cancelled.
    LandingAirHi,
    /// Down-air landing (74) after down air, L-cancelled.
    LandingAirLwLCancel,
    /// Down-air landing not L-cancelled.
    LandingAirLw,
    /// Airborne airdodge: frames of an EscapeAir (236) run, never flagged grounded, followed by
    /// a helpless fall (35–37) or a plain air state (not a landing).
    AirdodgeFrames,
    /// Share of those airborne airdodges followed by a helpless fall (35–37): the mean of 1s
    /// and 0s.
    AirdodgeHelplessShare,
    /// Wavedash landing: frames of a LandingFallSpecial (43) run right after an EscapeAir (236)
    /// of at most 10 frames (an airdodge into the ground; a later one has lost its speed).
    WavedashLandingFrames,
    /// Wavedash slide: |x| travelled from the last EscapeAir frame to the last frame of that
    /// LandingFallSpecial run, for those of the same wavedashes that are out of a ground jump
    /// (the EscapeAir run follows JumpF/JumpB frames straight out of a KneeBend, not a fall
    /// onto a platform) with the airdodge's stick (on its first frame) 40–50° below the
    /// horizontal. The slide scales with the airdodge's angle, so the angle band keeps it a
    /// measure of the physics (airdodge speed and decay, landing, ground friction) rather than
    /// of how players aim.
    WavedashSlide,
}

impl Quantity {
    /// Every quantity, in report order.
    pub const ALL: [Quantity; 36] = [
        Quantity::Gravity,
        Quantity::TerminalSpeed,
        Quantity::FastFallSpeed,
        Quantity::JumpSquatFrames,
        Quantity::FullHopSpeed,
        Quantity::FullHopHeight,
        Quantity::FullHopApexFrames,
        Quantity::ShortHopSpeed,
        Quantity::ShortHopHeight,
        Quantity::ShortHopApexFrames,
        Quantity::AerialJump1Height,
        Quantity::AerialJump2Height,
        Quantity::AerialJump3Height,
        Quantity::AerialJump4Height,
        Quantity::AerialJump5Height,
        Quantity::DashFirstFrameSpeed,
        Quantity::DashFrames,
        Quantity::RunSpeedPerStick,
        Quantity::AirDriftPerStick,
        Quantity::JumpTakeoffSpeed,
        Quantity::RunOffSpeed,
        Quantity::LandingFrames,
        Quantity::LandingAirNLCancel,
        Quantity::LandingAirN,
        Quantity::LandingAirFLCancel,
        Quantity::LandingAirF,
        Quantity::LandingAirBLCancel,
        Quantity::LandingAirB,
        Quantity::LandingAirHiLCancel,
        Quantity::LandingAirHi,
        Quantity::LandingAirLwLCancel,
        Quantity::LandingAirLw,
        Quantity::AirdodgeFrames,
        Quantity::AirdodgeHelplessShare,
        Quantity::WavedashLandingFrames,
        Quantity::WavedashSlide,
    ];

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        use Quantity::*;
        match self {
            Gravity => "gravity",
            TerminalSpeed => "max fall speed",
            FastFallSpeed => "fast-fall speed",
            JumpSquatFrames => "jump squat frames",
            FullHopSpeed => "full hop speed",
            FullHopHeight => "full hop apex",
            FullHopApexFrames => "full hop frames to apex",
            ShortHopSpeed => "short hop speed",
            ShortHopHeight => "short hop apex",
            ShortHopApexFrames => "short hop frames to apex",
            AerialJump1Height => "aerial jump 1 height",
            AerialJump2Height => "aerial jump 2 height",
            AerialJump3Height => "aerial jump 3 height",
            AerialJump4Height => "aerial jump 4 height",
            AerialJump5Height => "aerial jump 5 height",
            DashFirstFrameSpeed => "dash first-frame speed",
            DashFrames => "dash frames",
            RunSpeedPerStick => "run speed / stick x",
            AirDriftPerStick => "air drift / stick x",
            JumpTakeoffSpeed => "run jump takeoff speed",
            RunOffSpeed => "run-off air speed",
            LandingFrames => "landing frames",
            LandingAirNLCancel => "nair landing, L-cancel",
            LandingAirN => "nair landing",
            LandingAirFLCancel => "fair landing, L-cancel",
            LandingAirF => "fair landing",
            LandingAirBLCancel => "bair landing, L-cancel",
            LandingAirB => "bair landing",
            LandingAirHiLCancel => "uair landing, L-cancel",
            LandingAirHi => "uair landing",
            LandingAirLwLCancel => "dair landing, L-cancel",
            LandingAirLw => "dair landing",
            AirdodgeFrames => "airborne airdodge frames",
            AirdodgeHelplessShare => "airdodge then helpless",
            WavedashLandingFrames => "wavedash landing frames",
            WavedashSlide => "wavedash slide",
        }
    }

    /// Whether the figure is a share (the mean of 0/1 samples) rather than a median.
    pub fn is_share(self) -> bool {
        self == Quantity::AirdodgeHelplessShare
    }

    /// Whether the figure is the most common sample (the mode) rather than a median.
    pub fn is_mode(self) -> bool {
        self == Quantity::LandingFrames
    }

    /// The aerial-jump height quantity of the `k`-th aerial jump (1–5).
    pub fn aerial_jump(k: usize) -> Option<Quantity> {
        use Quantity::*;
        [
            AerialJump1Height,
            AerialJump2Height,
            AerialJump3Height,
            AerialJump4Height,
            AerialJump5Height,
        ]
        .get(k.checked_sub(1)?)
        .copied()
    }
}

/// A character's figure for one quantity: the median of its samples (the mean for shares, the
/// mode for [`Quantity::is_mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// The figure.
    pub value: f64,
    /// How many samples it comes from.
    pub samples: usize,
}

impl Figure {
    /// The figure of `samples` for `q`; `None` without samples.
    pub fn of(q: Quantity, samples: &[f64]) -> Option<Figure> {
        if samples.is_empty() {
            return None;
        }
        let value = if q.is_share() {
            samples.iter().sum::<f64>() / samples.len() as f64
        } else if q.is_mode() {
            mode(samples)
        } else {
            median(samples)
        };
        Some(Figure {
            value,
            samples: samples.len(),
        })
    }
}

/// The median (the mean of the two middle values for an even count); NaN for none.
pub fn median(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The most common value (the smallest of those tied); NaN for none.
pub fn mode(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let mut best = (f64::NAN, 0usize);
    let mut i = 0;
    while i < v.len() {
        let j = i + v[i..].iter().take_while(|&&x| x == v[i]).count();
        if j - i > best.1 {
            best = (v[i], j - i);
        }
        i = j;
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_shares() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(mode(&[5.0, 4.0, 30.0, 4.0, 5.0, 6.0]), 4.0);
        assert!(mode(&[]).is_nan());
        let f = Figure::of(Quantity::AirdodgeHelplessShare, &[1.0, 1.0, 0.0, 1.0]).unwrap();
        assert_eq!((f.value, f.samples), (0.75, 4));
        assert_eq!(Figure::of(Quantity::Gravity, &[]), None);
        assert_eq!(Quantity::aerial_jump(5), Some(Quantity::AerialJump5Height));
        assert_eq!(Quantity::aerial_jump(0), None);
        assert_eq!(Quantity::aerial_jump(6), None);
    }
}
