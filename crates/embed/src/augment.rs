//! Augmentation of game states: the left/right mirror and Gaussian noise.

use exphil_state::{Fighter, GameState};

fn mirror_fighter(f: &Fighter, has_controller: bool) -> Fighter {
    Fighter {
        x: -f.x,
        facing_right: if f.exists {
            !f.facing_right
        } else {
            f.facing_right
        },
        speed_air_x_self: -f.speed_air_x_self,
        speed_ground_x_self: -f.speed_ground_x_self,
        speed_x_attack: -f.speed_x_attack,
        controller: if has_controller {
            f.controller.mirrored()
        } else {
            f.controller
        },
        ..*f
    }
}

/// The left/right mirror image of a state: positions, x speeds, facing, stick x, items and
/// stage dynamics reflected (the FoD platforms trade sides). Mirroring twice is the identity.
pub fn mirror(s: &GameState) -> GameState {
    let mut m = *s;
    m.players = s.players.map(|f| mirror_fighter(&f, true));
    // Nana has no controller of her own (UMI sends zeros): only her body is mirrored.
    m.nana = s.nana.map(|f| mirror_fighter(&f, false));
    for it in m.items.iter_mut().filter(|i| i.exists) {
        it.x = -it.x;
        it.vx = -it.vx;
    }
    m.randall_x = -s.randall_x;
    m.fod_left = s.fod_right;
    m.fod_right = s.fod_left;
    m
}

/// Adds Gaussian noise of standard deviation `std` (world units) to positions, and `std / 10` to
/// speeds, of both fighters, using the caller's random source (`normal()` returns N(0, 1)).
pub fn add_noise(s: &GameState, std: f32, mut normal: impl FnMut() -> f32) -> GameState {
    let mut n = *s;
    for f in n.players.iter_mut() {
        f.x += std * normal();
        f.y += std * normal();
        f.speed_air_x_self += std / 10.0 * normal();
        f.speed_y_self += std / 10.0 * normal();
    }
    n
}
