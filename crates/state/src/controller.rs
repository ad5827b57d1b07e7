//! The controller a policy reads (previous inputs) and writes (its action), in UMI v1's
//! conventions: sticks and shoulder in [0, 1] with 0.5 the neutral stick, eight buttons.

use exphil_replay::PreFrame;
use serde::{Deserialize, Serialize};

/// Button names in bit order (bit i of [`Buttons`] is `BUTTON_NAMES[i]`), as UMI v1 packs them.
pub const BUTTON_NAMES: [&str; 8] = ["A", "B", "X", "Y", "Z", "L", "R", "D_UP"];

/// Slippi processed-button masks for A, B, X, Y, Z, L, R, D-up (in [`BUTTON_NAMES`] order).
const SLIPPI_MASKS: [u32; 8] = [
    0x0100, 0x0200, 0x0400, 0x0800, 0x0010, 0x0040, 0x0020, 0x0008,
];

/// Eight buttons as a bitmask (bit i = [`BUTTON_NAMES`]\[i\] pressed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Buttons(pub u8);

impl Buttons {
    /// Whether button `i` (in [`BUTTON_NAMES`] order) is pressed.
    pub fn pressed(self, i: usize) -> bool {
        i < 8 && self.0 >> i & 1 == 1
    }
    /// Sets button `i`.
    pub fn set(&mut self, i: usize, on: bool) {
        if i < 8 {
            self.0 = (self.0 & !(1 << i)) | ((on as u8) << i);
        }
    }
    /// From Slippi's processed-buttons field (pre-frame update).
    pub fn from_slippi(processed: u32) -> Buttons {
        let mut b = 0u8;
        for (i, mask) in SLIPPI_MASKS.iter().enumerate() {
            b |= ((processed & mask != 0) as u8) << i;
        }
        Buttons(b)
    }
}

/// One frame of controller input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    /// Main stick x, 0..1 (0.5 neutral).
    pub main_x: f32,
    /// Main stick y, 0..1 (0.5 neutral).
    pub main_y: f32,
    /// C-stick x, 0..1 (0.5 neutral).
    pub c_x: f32,
    /// C-stick y, 0..1 (0.5 neutral).
    pub c_y: f32,
    /// Analog shoulder, 0..1.
    pub shoulder: f32,
    /// Buttons.
    pub buttons: Buttons,
}

impl Default for Controller {
    fn default() -> Controller {
        Controller::NEUTRAL
    }
}

/// Raw GameCube stick units across an axis (−80..80).
const STICK_UNITS: f32 = 160.0;

/// Maps a processed stick axis (−1..1, always a multiple of 1/80 in real replays) to UMI's 0..1,
/// as the nearest f32 to `k / 160` for the raw position `k` — so mirroring is exact.
fn axis(v: f32) -> f32 {
    if v.is_finite() {
        (((v + 1.0) * 80.0).round() / STICK_UNITS).clamp(0.0, 1.0)
    } else {
        0.5
    }
}

/// Reflects a 0..1 stick axis about 0.5: exactly (an involution) for values on the raw grid.
fn mirror_axis(v: f32) -> f32 {
    let k = (v * STICK_UNITS).round();
    if k / STICK_UNITS == v {
        (STICK_UNITS - k) / STICK_UNITS
    } else {
        1.0 - v
    }
}

impl Controller {
    /// Sticks centred, shoulder released, no button.
    pub const NEUTRAL: Controller = Controller {
        main_x: 0.5,
        main_y: 0.5,
        c_x: 0.5,
        c_y: 0.5,
        shoulder: 0.0,
        buttons: Buttons(0),
    };

    /// The processed input of a pre-frame update.
    pub fn from_pre(pre: &PreFrame) -> Controller {
        Controller {
            main_x: axis(pre.joystick.x),
            main_y: axis(pre.joystick.y),
            c_x: axis(pre.cstick.x),
            c_y: axis(pre.cstick.y),
            shoulder: if pre.trigger.is_finite() {
                pre.trigger.clamp(0.0, 1.0)
            } else {
                0.0
            },
            buttons: Buttons::from_slippi(pre.buttons),
        }
    }

    /// The UMI controller row: main x, main y, c x, c y, shoulder, then 1.0/0.0 per button.
    pub fn to_row(&self) -> [f32; 13] {
        let mut row = [0.0; 13];
        row[..5].copy_from_slice(&[self.main_x, self.main_y, self.c_x, self.c_y, self.shoulder]);
        for i in 0..8 {
            row[5 + i] = self.buttons.pressed(i) as u8 as f32;
        }
        row
    }

    /// From a UMI controller row (a button is pressed when its value is above 0.5). Non-finite
    /// values read as neutral; axes are clamped to 0..1.
    pub fn from_row(row: &[f32; 13]) -> Controller {
        let unit = |v: f32, neutral: f32| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                neutral
            }
        };
        let mut buttons = Buttons(0);
        for i in 0..8 {
            buttons.set(i, row[5 + i] > 0.5);
        }
        Controller {
            main_x: unit(row[0], 0.5),
            main_y: unit(row[1], 0.5),
            c_x: unit(row[2], 0.5),
            c_y: unit(row[3], 0.5),
            shoulder: unit(row[4], 0.0),
            buttons,
        }
    }

    /// The left/right mirror image: stick x axes reflected about 0.5 (exactly, for stick values
    /// on the raw 1/160 grid, so mirroring twice is the identity).
    pub fn mirrored(&self) -> Controller {
        Controller {
            main_x: mirror_axis(self.main_x),
            c_x: mirror_axis(self.c_x),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slippi_buttons_map_to_umi_bits() {
        // A + Z + D-up + (R digital) + joystick-left flag (ignored).
        let b = Buttons::from_slippi(0x0100 | 0x0010 | 0x0008 | 0x0020 | 0x40000);
        let names: Vec<&str> = (0..8)
            .filter(|&i| b.pressed(i))
            .map(|i| BUTTON_NAMES[i])
            .collect();
        assert_eq!(names, ["A", "Z", "R", "D_UP"]);
    }

    #[test]
    fn rows_round_trip_and_mirroring_is_an_involution() {
        let c = Controller {
            main_x: 0.25,
            main_y: 1.0,
            c_x: 0.5,
            c_y: 0.0,
            shoulder: 0.35,
            buttons: Buttons(0b1010_0101),
        };
        assert_eq!(Controller::from_row(&c.to_row()), c);
        assert_eq!(c.mirrored().mirrored(), c);
        assert_eq!(c.mirrored().main_x, 0.75);
        for k in 0..=160 {
            let v = k as f32 / 160.0;
            let m = Controller { main_x: v, ..c };
            assert_eq!(m.mirrored().mirrored().main_x.to_bits(), v.to_bits(), "{k}");
        }
        let mut garbage = [f32::NAN; 13];
        garbage[5] = 1.0;
        let g = Controller::from_row(&garbage);
        assert_eq!((g.main_x, g.shoulder, g.buttons), (0.5, 0.0, Buttons(1)));
    }
}
