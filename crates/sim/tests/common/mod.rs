//! What the simulator's tests share: the stage and fighters by name, and controllers.
#![allow(dead_code)]

use exphil_sim::{bot, Fighter, Game, Stage};
use exphil_state::{Buttons, Controller};

/// The neutral controller.
pub const N: Controller = Controller::NEUTRAL;

/// Final Destination.
pub fn fd() -> &'static Stage {
    Stage::parse("fd").unwrap()
}

/// Fox.
pub fn fox() -> &'static Fighter {
    Fighter::parse("fox").unwrap()
}

/// Jigglypuff.
pub fn puff() -> &'static Fighter {
    Fighter::parse("puff").unwrap()
}

/// Bowser.
pub fn bowser() -> &'static Fighter {
    Fighter::parse("bowser").unwrap()
}

/// The main stick at `(x, y)` in [-1, 1].
pub fn stick(x: f32, y: f32) -> Controller {
    Controller {
        main_x: 0.5 + x * 0.5,
        main_y: 0.5 + y * 0.5,
        ..N
    }
}

/// `c` with button `b` pressed too.
pub fn with(mut c: Controller, b: usize) -> Controller {
    c.buttons = Buttons(c.buttons.0 | 1 << b);
    c
}

/// Plays `g` to its end, player 1 the `rule` bot seeded `seeds.0` and player 2 the `random`
/// bot seeded `seeds.1`: whether the rule bot won.
pub fn rule_beats_random(mut g: Game, seeds: (u64, u64)) -> bool {
    let mut bots = [
        bot("rule", seeds.0).unwrap(),
        bot("random", seeds.1).unwrap(),
    ];
    while !g.is_over() {
        let c = [bots[0].act(&g.view(0)), bots[1].act(&g.view(1))];
        g.step(c);
    }
    g.outcome.unwrap().winner == Some(0)
}
