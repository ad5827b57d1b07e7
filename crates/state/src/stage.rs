//! Moving stage parts: Randall (the Yoshi's Story cloud) and the Fountain of Dreams side
//! platforms.

/// Frames in Randall's loop around Yoshi's Story.
pub const RANDALL_PERIOD: i32 = 1200;
/// Randall's width.
pub const RANDALL_WIDTH: f32 = 11.9;
/// Fountain of Dreams left platform height before it first moves.
pub const FOD_LEFT_START: f32 = 20.0;
/// Fountain of Dreams right platform height before it first moves.
pub const FOD_RIGHT_START: f32 = 28.0;

/// The straight parts of Randall's loop: (first frame, last frame, start x, start y, dx, dy)
/// of its centre. Measured from the game; the loop runs clockwise seen from the front, under
/// the stage along the bottom, up the right side, back along the top and down the left side.
const SEGMENTS: [(i32, i32, f32, f32, f32, f32); 4] = [
    // bottom, left to right (frames 1076..1199 then 0..415 of the next loop)
    (
        1076,
        1615,
        -101.85 + RANDALL_WIDTH / 2.0,
        -33.2489,
        0.35484,
        0.0,
    ),
    // right side, upwards
    (1624, 1668, 97.3, -31.160233, 0.0, 0.354_839_3),
    // top, right to left
    (
        477,
        1015,
        101.235_44 - RANDALL_WIDTH / 2.0,
        -13.64989,
        -0.35484,
        0.0,
    ),
    // left side, downwards
    (1023, 1068, -97.65, -15.277869, 0.0, -0.354_839_3),
];

/// Randall's centre `(x, y)` on frame id `frame` (the loop is periodic in the frame id).
///
/// Exact on the four straight parts of the loop (96% of it); across the rounded corners (8
/// frames each) the position is interpolated linearly between the ends of the straight parts.
pub fn randall_position(frame: i32) -> (f32, f32) {
    let f = frame.rem_euclid(RANDALL_PERIOD);
    // Unroll the bottom and right segments into one range past the period.
    let g = if f < 477 { f + RANDALL_PERIOD } else { f };
    let at = |s: &(i32, i32, f32, f32, f32, f32), t: i32| {
        let n = (t - s.0) as f32;
        (s.2 + s.4 * n, s.3 + s.5 * n)
    };
    for s in &SEGMENTS {
        if (s.0..=s.1).contains(&g) {
            return at(s, g);
        }
    }
    // A corner: between the end of one segment and the start of the next (in loop order).
    let order = [2usize, 3, 0, 1];
    for w in 0..4 {
        let (a, b) = (&SEGMENTS[order[w]], &SEGMENTS[order[(w + 1) % 4]]);
        let (start, end) = (a.1, if b.0 < a.1 { b.0 + RANDALL_PERIOD } else { b.0 });
        let gg = if g < start { g + RANDALL_PERIOD } else { g };
        if gg > start && gg < end {
            let (p, q) = (at(a, a.1), at(b, b.0));
            let t = (gg - start) as f32 / (end - start) as f32;
            return (p.0 + (q.0 - p.0) * t, p.1 + (q.1 - p.1) * t);
        }
    }
    at(&SEGMENTS[0], 1076) // unreachable for a period of 1200: every frame is covered above
}

/// Tracks the Fountain of Dreams platform heights through a game's stage events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FodPlatforms {
    /// Left platform height.
    pub left: f32,
    /// Right platform height.
    pub right: f32,
}

impl Default for FodPlatforms {
    fn default() -> FodPlatforms {
        FodPlatforms {
            left: FOD_LEFT_START,
            right: FOD_RIGHT_START,
        }
    }
}

impl FodPlatforms {
    /// Applies one FoD platform event (`platform` 0 right, 1 left).
    pub fn apply(&mut self, platform: u8, height: f32) {
        match platform {
            0 => self.right = height,
            1 => self.left = height,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randall_loops_continuously() {
        let mut prev = randall_position(0);
        for f in 1..=2 * RANDALL_PERIOD {
            let p = randall_position(f);
            let step = ((p.0 - prev.0).powi(2) + (p.1 - prev.1).powi(2)).sqrt();
            assert!(
                step < 1.0,
                "frame {f}: jump of {step} from {prev:?} to {p:?}"
            );
            prev = p;
        }
        assert_eq!(randall_position(-123), randall_position(1077));
        // Under the stage at the bottom, above it at the top, both sides reached.
        let ys: Vec<f32> = (0..RANDALL_PERIOD).map(|f| randall_position(f).1).collect();
        let xs: Vec<f32> = (0..RANDALL_PERIOD).map(|f| randall_position(f).0).collect();
        assert!(ys.iter().cloned().fold(f32::MAX, f32::min) < -33.0);
        assert!(ys.iter().cloned().fold(f32::MIN, f32::max) > -14.0);
        assert!(xs.iter().cloned().fold(f32::MAX, f32::min) < -97.0);
        assert!(xs.iter().cloned().fold(f32::MIN, f32::max) > 97.0);
    }
}
