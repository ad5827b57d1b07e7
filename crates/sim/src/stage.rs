//! The six legal stages' geometry (Melee's published values, in game units): the main
//! platform's top and edges (with ledges), the pass-through platforms, and the blast zones.

use exphil_replay::ExternalStage;

/// A pass-through platform: x from `left` to `right` at height `y`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Platform {
    /// Left end.
    pub left: f32,
    /// Right end.
    pub right: f32,
    /// Height of its top.
    pub y: f32,
}

/// One stage.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    /// The stage id (external numbering, as in replays).
    pub id: ExternalStage,
    /// Name.
    pub name: &'static str,
    /// The main platform spans `-edge..=edge` at y = 0; its ledges are at its two ends.
    pub edge: f32,
    /// Pass-through platforms.
    pub platforms: &'static [Platform],
    /// Blast zones: left, right, top, bottom.
    pub blast: [f32; 4],
}

const fn p(left: f32, right: f32, y: f32) -> Platform {
    Platform { left, right, y }
}

/// The six legal stages.
pub static STAGES: [Stage; 6] = [
    Stage {
        id: ExternalStage(32),
        name: "Final Destination",
        edge: 85.5657,
        platforms: &[],
        blast: [-246.0, 246.0, 188.0, -140.0],
    },
    Stage {
        id: ExternalStage(31),
        name: "Battlefield",
        edge: 68.4,
        platforms: &[
            p(-57.6, -20.0, 27.2),
            p(20.0, 57.6, 27.2),
            p(-18.8, 18.8, 54.4),
        ],
        blast: [-224.0, 224.0, 200.0, -108.8],
    },
    Stage {
        id: ExternalStage(8),
        name: "Yoshi's Story",
        edge: 56.0,
        platforms: &[
            p(-59.5, -28.0, 23.45),
            p(28.0, 59.5, 23.45),
            p(-15.75, 15.75, 42.0),
        ],
        blast: [-175.7, 173.6, 168.0, -91.0],
    },
    Stage {
        id: ExternalStage(28),
        name: "Dream Land N64",
        edge: 77.27,
        platforms: &[
            p(-61.39, -31.73, 30.14),
            p(31.71, 63.08, 30.24),
            p(-19.02, 19.02, 51.43),
        ],
        blast: [-255.0, 255.0, 250.0, -123.0],
    },
    Stage {
        id: ExternalStage(2),
        name: "Fountain of Dreams",
        edge: 63.35,
        platforms: &[
            p(-49.5, -21.0, 16.125),
            p(21.0, 49.5, 16.125),
            p(-14.25, 14.25, 42.75),
        ],
        blast: [-198.75, 198.75, 202.5, -146.25],
    },
    Stage {
        id: ExternalStage(3),
        name: "Pokemon Stadium",
        edge: 87.75,
        platforms: &[p(-55.0, -25.0, 25.0), p(25.0, 55.0, 25.0)],
        blast: [-230.0, 230.0, 180.0, -111.0],
    },
];

impl Stage {
    /// Fountain of Dreams' side-platform heights (left, right), as its view and its replays
    /// report them; `None` on the other stages. The simulator keeps them fixed.
    pub fn fod_heights(&self) -> Option<[f32; 2]> {
        (self.id == ExternalStage(2)).then(|| [self.platforms[0].y, self.platforms[1].y])
    }

    /// The stage with this id, if legal.
    pub fn get(id: ExternalStage) -> Option<&'static Stage> {
        STAGES.iter().find(|s| s.id == id)
    }

    /// Parses a name or alias (`fd`, `bf`, `ys`, `dl`, `fod`, `ps`).
    pub fn parse(text: &str) -> Option<&'static Stage> {
        ExternalStage::parse(text).and_then(Stage::get)
    }

    /// Where a player starts: `side` 0 on the left, 1 on the right.
    pub fn spawn(&self, side: usize) -> (f32, f32) {
        let x = self.edge * 0.45;
        (if side == 0 { -x } else { x }, 0.0)
    }

    /// Where a player reappears after losing a stock (above the stage), by side.
    pub fn respawn(&self, side: usize) -> (f32, f32) {
        let x = self.edge * 0.3;
        (if side == 0 { -x } else { x }, 45.0)
    }

    /// The surface under a body falling from `y0` to `y1` at `x`: its height and whether it is
    /// a pass-through platform (`None`: no surface crossed).
    pub fn landing(&self, x: f32, y0: f32, y1: f32, through: bool) -> Option<(f32, bool)> {
        if y0 >= 0.0 && y1 <= 0.0 && x.abs() <= self.edge {
            return Some((0.0, false));
        }
        if through {
            return None;
        }
        self.platforms
            .iter()
            .find(|p| y0 >= p.y && y1 <= p.y && x >= p.left && x <= p.right)
            .map(|p| (p.y, true))
    }

    /// Whether `x` at height `y` stands on a surface (for walking off).
    pub fn supports(&self, x: f32, y: f32) -> bool {
        if y == 0.0 {
            return x.abs() <= self.edge;
        }
        self.platforms
            .iter()
            .any(|p| p.y == y && x >= p.left && x <= p.right)
    }

    /// Whether a point is outside the blast zones.
    pub fn outside(&self, x: f32, y: f32) -> bool {
        let [l, r, t, b] = self.blast;
        x < l || x > r || y > t || y < b
    }
}
