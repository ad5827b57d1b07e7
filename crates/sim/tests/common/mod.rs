//! What the simulator's tests share: the stage and fighters by name, and controllers.
#![allow(dead_code)]

use exphil_sim::{Fighter, Stage};
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
