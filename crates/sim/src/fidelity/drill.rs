//! The simulated side of the bench: a scripted movement drill per fighter and ordinary bot
//! games, each recorded as a replay, written as `.slp` bytes and decoded back.

use crate::bots::{bot, Bot};
use crate::bots::{stick, with};
use crate::fighter::{action, Fighter, FIGHTERS};
use crate::game::Game;
use crate::slp::SlpRecorder;
use crate::stage::{Stage, STAGES};
use exphil_replay::{read, write, DecodeError, DecodeOptions};
use exphil_state::{Controller, GameState};

/// The drill's stage: Final Destination (flat, no platforms).
pub const DRILL_STAGE: usize = 0;

/// Frames each bot game lasts.
const BOT_GAME_FRAMES: i32 = 3600;

/// The most frames a drill game may last.
const DRILL_FRAME_LIMIT: i32 = 30_000;

/// Frames any one drill step may take before the drill moves on (a stuck step).
const STEP_CAP: u32 = 600;

/// Buttons in the state crate's order.
const A: usize = 0;
const X: usize = 2;
const L: usize = 5;
const R: usize = 6;

/// One step of a drill.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// A controller held for some frames.
    Hold(Controller, u32),
    /// Neutral until standing still (Wait, on the ground, not sliding) for 3 frames.
    Settle,
    /// Neutral until airborne.
    UntilAirborne,
    /// A controller held until airborne (a jump held through its jump squat).
    HoldUntilAirborne(Controller),
    /// Neutral until falling (airborne, moving down).
    UntilFalling,
    /// A controller held until hanging on a ledge.
    UntilLedge(Controller),
    /// Walking toward an x until within 4 of it.
    GoTo(f32),
    /// Neutral until falling below a height (airborne).
    UntilBelow(f32),
}

/// A scripted movement drill for one fighter, played from the view of seat 0: standing full
/// hops and short hops, aerial jumps down to the last, fast falls, dashes out of standing,
/// runs at stick 0.5, 0.75 and 1.0, air drift at stick 0.4 to 1.0, running jumps, run-offs
/// (caught on the ledge and climbed), airborne airdodges, wavedashes (jump held, airdodge at
/// 45° down on the first frame after takeoff) and short-hop neutral airs (plain and
/// L-cancelled), each a few times in both directions, with a settle on the ground between
/// them.
#[derive(Debug)]
pub struct Drill {
    steps: Vec<Step>,
    at: usize,
    frames_in_step: u32,
    still_frames: u32,
    stalled: u32,
}

impl Drill {
    /// The drill for `fighter`.
    pub fn new(fighter: &Fighter) -> Drill {
        use Step::*;
        let neutral = Controller::NEUTRAL;
        let jump = with(neutral, X);
        let mut s = vec![Settle];
        for _ in 0..4 {
            s.extend([Hold(jump, 12), Settle]);
        }
        for _ in 0..4 {
            s.extend([Hold(jump, 1), Settle]);
        }
        for _ in 0..2 {
            s.extend([Hold(jump, 12), UntilFalling]);
            for _ in 0..fighter.air_jumps {
                s.extend([Hold(jump, 1), UntilFalling]);
            }
            s.push(Settle);
        }
        for _ in 0..3 {
            s.extend([
                Hold(jump, 12),
                UntilFalling,
                Hold(stick(0.0, -1.0), 2),
                Settle,
            ]);
        }
        for dir in [1.0, -1.0, 1.0, -1.0] {
            s.extend([Hold(stick(dir, 0.0), 15), Settle]);
        }
        for x in [0.5, 0.75, 1.0] {
            for dir in [1.0f32, -1.0] {
                s.extend([
                    GoTo(-60.0 * dir),
                    Settle,
                    Hold(stick(dir, 0.0), 12),
                    Hold(stick(dir * x, 0.0), 20),
                    Settle,
                ]);
            }
        }
        for x in [0.4, 0.6, 0.8, 1.0] {
            for dir in [1.0f32, -1.0] {
                s.extend([
                    GoTo(-50.0 * dir),
                    Settle,
                    Hold(jump, 12),
                    Hold(stick(dir * x, 0.0), 40),
                    Settle,
                ]);
            }
        }
        for dir in [1.0f32, -1.0, 1.0, -1.0] {
            s.extend([
                GoTo(-60.0 * dir),
                Settle,
                // Past the dash into a few frames of run (Marth's dash is 15 frames).
                Hold(stick(dir, 0.0), fighter.dash_run_frame as u32 + 6),
                Hold(with(stick(dir, 0.0), X), 12),
                Settle,
            ]);
        }
        for dir in [1.0f32, -1.0] {
            s.extend([
                GoTo(40.0 * dir),
                Settle,
                UntilLedge(stick(dir, 0.0)),
                // Toward the stage climbs (up would be a ledge jump, and a regrab).
                Hold(stick(-dir, 0.0), 2),
                Settle,
            ]);
        }
        s.push(GoTo(0.0));
        // Airborne airdodges in place, from an aerial jump's height so that they end in the
        // air (from a full hop alone they land first, and then read as a wavedash with no
        // slide).
        for _ in 0..3 {
            s.extend([
                Hold(jump, 12),
                UntilFalling,
                Hold(jump, 1),
                Hold(neutral, 3),
                Hold(with(neutral, R), 1),
                Settle,
            ]);
        }
        // Wavedashes as players do them: jump held through the jump squat, then the
        // airdodge diagonally down (the stick's 45° notch) on the next frame. A full hop
        // slower than the airdodge's first-frame fall (3.1 x 0.9 x sin 45° = 1.97) lands on
        // the airdodge's own frame, with no EscapeAir frame to measure (as in Melee), so such
        // fighters (Jigglypuff) also wavedash one frame later.
        let timings: &[u32] = if fighter.jump_v_initial_velocity < 2.0 {
            &[0, 1]
        } else {
            &[0]
        };
        for &late in timings {
            for dir in [1.0f32, -1.0, 1.0, -1.0, 1.0, -1.0] {
                s.extend([
                    GoTo(-30.0 * dir),
                    Settle,
                    HoldUntilAirborne(jump),
                    Hold(jump, late),
                    Hold(with(stick(0.7 * dir, -0.7), R), 1),
                    Settle,
                ]);
            }
        }
        for _ in 0..3 {
            s.extend([
                Hold(jump, 1),
                UntilAirborne,
                Hold(with(neutral, A), 1),
                Settle,
            ]);
        }
        // The same, L-cancelled: L pressed just before the landing.
        for _ in 0..3 {
            s.extend([
                Hold(jump, 1),
                UntilAirborne,
                Hold(with(neutral, A), 1),
                UntilBelow(4.0),
                Hold(with(neutral, L), 1),
                Settle,
            ]);
        }
        Drill {
            steps: s,
            at: 0,
            frames_in_step: 0,
            still_frames: 0,
            stalled: 0,
        }
    }

    /// Steps cut short because they did not finish within 600 frames (0 in a sound drill).
    pub fn stalled_steps(&self) -> u32 {
        self.stalled
    }

    /// Whether every step has been played.
    pub fn is_done(&self) -> bool {
        self.at >= self.steps.len()
    }

    fn next_step(&mut self) {
        self.at += 1;
        self.frames_in_step = 0;
        self.still_frames = 0;
    }
}

impl Bot for Drill {
    fn act(&mut self, state: &GameState) -> Controller {
        if state.frame < 0 {
            // The countdown ignores inputs: the drill waits for GO.
            return Controller::NEUTRAL;
        }
        let me = &state.players[0];
        loop {
            let Some(&step) = self.steps.get(self.at) else {
                return Controller::NEUTRAL;
            };
            if self.frames_in_step >= STEP_CAP {
                self.stalled += 1;
                self.next_step();
                continue;
            }
            let out = match step {
                Step::Hold(c, n) => (self.frames_in_step < n).then_some(c),
                Step::Settle => {
                    let still = me.on_ground
                        && me.action == action::WAIT
                        && me.speed_ground_x_self.abs() < 1e-3;
                    self.still_frames = if still { self.still_frames + 1 } else { 0 };
                    (self.still_frames < 3).then_some(Controller::NEUTRAL)
                }
                Step::UntilAirborne => me.on_ground.then_some(Controller::NEUTRAL),
                Step::HoldUntilAirborne(c) => me.on_ground.then_some(c),
                Step::UntilFalling => {
                    let falling = !me.on_ground && me.speed_y_self < 0.0;
                    (!falling).then_some(Controller::NEUTRAL)
                }
                Step::UntilBelow(y) => {
                    let above = !me.on_ground && (me.y >= y || me.speed_y_self >= 0.0);
                    above.then_some(Controller::NEUTRAL)
                }
                Step::UntilLedge(c) => (me.action != action::CLIFF_WAIT).then_some(c),
                Step::GoTo(x) => {
                    let dx = x - me.x;
                    (dx.abs() > 4.0 && me.on_ground).then(|| stick(dx.signum() * 0.6, 0.0))
                }
            };
            match out {
                Some(c) => {
                    self.frames_in_step += 1;
                    return c;
                }
                None => self.next_step(),
            }
        }
    }

    fn reset(&mut self) {
        self.at = 0;
        self.frames_in_step = 0;
        self.still_frames = 0;
        self.stalled = 0;
    }
}

/// Plays one game to its end (or, with `until_done`, until seat 0's drill is done), recording
/// it, and returns it decoded from the `.slp` bytes it writes.
fn play(
    stage: &'static Stage,
    fighters: [&'static Fighter; 2],
    mut players: [Box<dyn Bot>; 2],
    names: [&str; 2],
    drill: Option<&mut Drill>,
    seed: u64,
    frame_limit: i32,
) -> Result<exphil_replay::Game, DecodeError> {
    let mut g = Game::new(stage, fighters);
    g.frame_limit = frame_limit;
    let mut rec = SlpRecorder::new(&g, names, seed as u32);
    let mut drill = drill;
    while !g.is_over() {
        let c0 = match drill.as_deref_mut() {
            Some(d) => {
                if d.is_done() {
                    break;
                }
                d.act(&g.view(0))
            }
            None => players[0].act(&g.view(0)),
        };
        let c1 = players[1].act(&g.view(1));
        g.step([c0, c1]);
        rec.push(&g);
    }
    let recorded = rec.finish(&g);
    read(&write(&recorded), DecodeOptions::default())
}

/// Simulated games for one fighter, each recorded, written as `.slp` and decoded back: the
/// drill on Final Destination (against an idle copy of itself, until the drill ends), then one-minute bot games for action coverage — `rule` against `random` and
/// `random` against `rule`, each against every fighter, on a stage chosen by the pairing.
/// Deterministic in `seed`.
pub fn simulate_for(
    fighter: &'static Fighter,
    seed: u64,
) -> Result<Vec<exphil_replay::Game>, DecodeError> {
    let idle = || bot("idle", 0).expect("idle is one of BOT_NAMES");
    let mut games = Vec::new();
    let mut drill = Drill::new(fighter);
    // The drill ends the game itself; the limit only guards against a drill that never ends.
    games.push(play(
        &STAGES[DRILL_STAGE],
        [fighter, fighter],
        [idle(), idle()],
        ["drill", "idle"],
        Some(&mut drill),
        seed,
        DRILL_FRAME_LIMIT,
    )?);
    for (k, other) in FIGHTERS.iter().enumerate() {
        for (j, names) in [["rule", "random"], ["random", "rule"]].iter().enumerate() {
            let game_seed = seed
                .wrapping_mul(1_000_003)
                .wrapping_add((k * 2 + j) as u64);
            let players = [
                bot(names[0], game_seed).expect("rule and random are BOT_NAMES"),
                bot(names[1], game_seed ^ 0x5EED).expect("rule and random are BOT_NAMES"),
            ];
            let stage = &STAGES[(k * 2 + j + seed as usize) % STAGES.len()];
            let labels = [format!("bot:{}", names[0]), format!("bot:{}", names[1])];
            games.push(play(
                stage,
                [fighter, other],
                players,
                [&labels[0], &labels[1]],
                None,
                game_seed,
                BOT_GAME_FRAMES,
            )?);
        }
    }
    Ok(games)
}
