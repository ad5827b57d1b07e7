//! Controller targets: a [`Controller`] as eight button bits and one class per stick axis and for
//! the shoulder, and back. Training reads the classes; play decodes a policy's classes into the
//! controller it sends.
//!
//! # Rules
//!
//! - **Buttons**: A, B, X, Y, Z, L, R, D-up, as [`Buttons`] (from Slippi's processed buttons).
//! - **Uniform sticks** (`spacing` raw units): a value `v` in 0..1 sits at raw position `v × 160`;
//!   it is rounded to the nearest whole raw unit, then to the nearest bucket `0, spacing, …, 160`.
//!   A raw position exactly between two buckets goes to the one nearer neutral (80), so encoding
//!   commutes with the left/right mirror. Class `k` decodes to `k × spacing / 160`.
//! - **K-means sticks**: the nearest centre (a value exactly between two goes to the one nearer
//!   0.5); class `k` decodes to centre `k`.
//! - **Shoulder** (`n` buckets): the nearest of `0, 1/(n−1), …, 1`.
//! - Out-of-range input is clamped to 0..1; a value that is not a number reads as neutral (0.5 on
//!   a stick, 0 on the shoulder). A class past the last decodes as the last.
//!
//! So `encode(decode(t)) == t` for every class, and `decode(encode(c))` is the nearest value the
//! targets can represent.

use crate::config::{
    validate_centers, validate_shoulder, ConfigError, StickDiscretization, TargetConfig,
    STICK_RAW_SPAN,
};
use exphil_state::{Buttons, Controller};
use serde::{Deserialize, Serialize};

/// Number of button targets (A, B, X, Y, Z, L, R, D-up).
pub const NUM_BUTTONS: usize = 8;

/// Number of stored target columns of a frame: the buttons (a bit set), then the classes of
/// main x, main y, C x, C y and the shoulder.
pub const TARGET_COLUMNS: usize = 6;

/// The target columns' names, in column (and loss) order.
pub const TARGET_NAMES: [&str; TARGET_COLUMNS] =
    ["buttons", "main_x", "main_y", "c_x", "c_y", "shoulder"];

/// One frame's controller targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Targets {
    /// Buttons pressed (bit i is [`exphil_state::BUTTON_NAMES`]\[i\]).
    pub buttons: Buttons,
    /// Main stick x class.
    pub main_x: u16,
    /// Main stick y class.
    pub main_y: u16,
    /// C-stick x class.
    pub c_x: u16,
    /// C-stick y class.
    pub c_y: u16,
    /// Shoulder class.
    pub shoulder: u16,
}

/// Classes per head (the buttons are [`NUM_BUTTONS`] independent bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NumClasses {
    /// Main stick x.
    pub main_x: usize,
    /// Main stick y.
    pub main_y: usize,
    /// C-stick x.
    pub c_x: usize,
    /// C-stick y.
    pub c_y: usize,
    /// Shoulder.
    pub shoulder: usize,
}

/// How one value in 0..1 becomes a class, and back.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisBuckets {
    rule: Rule,
    /// What each class decodes to, increasing.
    values: Vec<f32>,
    /// The class of each class's left/right mirror image.
    mirror: Vec<u16>,
    /// What a value that is not a number reads as.
    neutral: f32,
}

#[derive(Clone, Debug, PartialEq)]
enum Rule {
    /// Stick buckets every `spacing` raw units (0..=160).
    Raw { spacing: u16 },
    /// `values.len()` evenly spaced values over 0..1.
    Even,
    /// The nearest of `values`.
    Nearest,
}

impl AxisBuckets {
    /// Uniform stick buckets every `spacing` raw units; `spacing` must divide 160.
    pub fn uniform_stick(spacing: u16) -> Result<AxisBuckets, ConfigError> {
        StickDiscretization::Uniform { spacing }.validate()?;
        let n = (STICK_RAW_SPAN / spacing) as usize + 1;
        let values = (0..n)
            .map(|k| (k as f32 * spacing as f32) / STICK_RAW_SPAN as f32)
            .collect();
        Ok(AxisBuckets {
            rule: Rule::Raw { spacing },
            values,
            mirror: (0..n).rev().map(|k| k as u16).collect(),
            neutral: 0.5,
        })
    }

    /// One class per centre (strictly increasing, in 0..1); `axis` names them in errors.
    pub fn centers(axis: &'static str, centers: &[f32]) -> Result<AxisBuckets, ConfigError> {
        validate_centers(axis, centers)?;
        let mut b = AxisBuckets {
            rule: Rule::Nearest,
            values: centers.to_vec(),
            mirror: Vec::new(),
            neutral: 0.5,
        };
        b.mirror = (0..centers.len())
            .map(|k| b.encode(1.0 - centers[k]))
            .collect();
        Ok(b)
    }

    /// `buckets` (≥ 2) evenly spaced values over 0..1, both ends included; neutral is 0.
    pub fn shoulder(buckets: usize) -> Result<AxisBuckets, ConfigError> {
        validate_shoulder(buckets)?;
        let last = (buckets - 1) as f32;
        Ok(AxisBuckets {
            rule: Rule::Even,
            values: (0..buckets).map(|k| k as f32 / last).collect(),
            mirror: (0..buckets).rev().map(|k| k as u16).collect(),
            neutral: 0.0,
        })
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: there are at least two classes.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// What each class decodes to, in class order (increasing).
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The class of `v` (0..1; clamped; not a number reads as neutral).
    pub fn encode(&self, v: f32) -> u16 {
        let v = if v.is_nan() {
            self.neutral
        } else {
            v.clamp(0.0, 1.0)
        };
        let last = self.values.len() - 1;
        let k = match self.rule {
            Rule::Raw { spacing } => {
                let span = STICK_RAW_SPAN as i32;
                let raw = ((v * span as f32).round() as i32).clamp(0, span);
                let s = spacing as i32;
                let (q, r) = (raw / s, raw % s);
                if 2 * r < s {
                    q
                } else if 2 * r > s {
                    q + 1
                } else {
                    // Exactly between: the bucket nearer neutral (80); the upper one if equal.
                    let (lo, hi) = (q * s - span / 2, (q + 1) * s - span / 2);
                    if lo.abs() < hi.abs() {
                        q
                    } else {
                        q + 1
                    }
                }
            }
            .clamp(0, last as i32) as usize,
            Rule::Even => ((v * last as f32).round() as usize).min(last),
            Rule::Nearest => {
                let i = self.values.partition_point(|&c| c < v);
                if i == 0 {
                    0
                } else if i > last {
                    last
                } else {
                    let (lo, hi) = (self.values[i - 1], self.values[i]);
                    let (dlo, dhi) = (v - lo, hi - v);
                    if dlo < dhi || (dlo == dhi && (lo - 0.5).abs() < (hi - 0.5).abs()) {
                        i - 1
                    } else {
                        i
                    }
                }
            }
        };
        k as u16
    }

    /// The value class `k` stands for (a class past the last reads as the last).
    pub fn decode(&self, k: u16) -> f32 {
        self.values[(k as usize).min(self.values.len() - 1)]
    }

    /// The class of the left/right mirror image (`1 − value`) of class `k`. Exact (an
    /// involution) for uniform buckets and for centres symmetric about 0.5; otherwise the
    /// centre nearest the mirrored value.
    pub fn mirror(&self, k: u16) -> u16 {
        self.mirror[(k as usize).min(self.mirror.len() - 1)]
    }
}

/// Encodes controllers into [`Targets`] and decodes them back, per a validated
/// [`TargetConfig`].
#[derive(Clone, Debug, PartialEq)]
pub struct TargetCoder {
    config: TargetConfig,
    main_x: AxisBuckets,
    main_y: AxisBuckets,
    c_x: AxisBuckets,
    c_y: AxisBuckets,
    shoulder: AxisBuckets,
}

impl TargetCoder {
    /// Validates `config` and builds the coder.
    pub fn new(config: TargetConfig) -> Result<TargetCoder, ConfigError> {
        config.validate()?;
        let [main_x, main_y, c_x, c_y] = match &config.stick {
            StickDiscretization::Uniform { spacing } => {
                let b = AxisBuckets::uniform_stick(*spacing)?;
                [b.clone(), b.clone(), b.clone(), b]
            }
            StickDiscretization::KMeans(c) => [
                AxisBuckets::centers("main_x", &c.main_x)?,
                AxisBuckets::centers("main_y", &c.main_y)?,
                AxisBuckets::centers("c_x", &c.c_x)?,
                AxisBuckets::centers("c_y", &c.c_y)?,
            ],
        };
        let shoulder = AxisBuckets::shoulder(config.shoulder_buckets)?;
        Ok(TargetCoder {
            config,
            main_x,
            main_y,
            c_x,
            c_y,
            shoulder,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &TargetConfig {
        &self.config
    }

    /// The buckets of each stick axis: main x, main y, C x, C y.
    pub fn stick_axes(&self) -> [&AxisBuckets; 4] {
        [&self.main_x, &self.main_y, &self.c_x, &self.c_y]
    }

    /// The shoulder buckets.
    pub fn shoulder(&self) -> &AxisBuckets {
        &self.shoulder
    }

    /// Classes per head.
    pub fn num_classes(&self) -> NumClasses {
        NumClasses {
            main_x: self.main_x.len(),
            main_y: self.main_y.len(),
            c_x: self.c_x.len(),
            c_y: self.c_y.len(),
            shoulder: self.shoulder.len(),
        }
    }

    /// The targets of one frame's controller.
    pub fn encode(&self, c: &Controller) -> Targets {
        Targets {
            buttons: c.buttons,
            main_x: self.main_x.encode(c.main_x),
            main_y: self.main_y.encode(c.main_y),
            c_x: self.c_x.encode(c.c_x),
            c_y: self.c_y.encode(c.c_y),
            shoulder: self.shoulder.encode(c.shoulder),
        }
    }

    /// The controller the targets stand for (what a policy's output plays).
    pub fn decode(&self, t: &Targets) -> Controller {
        Controller {
            main_x: self.main_x.decode(t.main_x),
            main_y: self.main_y.decode(t.main_y),
            c_x: self.c_x.decode(t.c_x),
            c_y: self.c_y.decode(t.c_y),
            shoulder: self.shoulder.decode(t.shoulder),
            buttons: t.buttons,
        }
    }

    /// The targets of the left/right mirror image (x classes mirrored; y, shoulder and buttons
    /// unchanged), for augmentation. Matches `encode(&c.mirrored())` for uniform buckets and
    /// symmetric centres.
    pub fn mirror(&self, t: &Targets) -> Targets {
        Targets {
            main_x: self.main_x.mirror(t.main_x),
            c_x: self.c_x.mirror(t.c_x),
            ..*t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AxisCenters;

    /// The nearest of `values` to `v` by brute force, ties to the one nearer `tie_to`, then up.
    fn nearest(values: &[f32], v: f32, tie_to: f32) -> usize {
        let mut best = 0;
        for (k, &c) in values.iter().enumerate() {
            let (d, db) = ((v - c).abs(), (v - values[best]).abs());
            if d < db || (d == db && (c - tie_to).abs() <= (values[best] - tie_to).abs()) {
                best = k;
            }
        }
        best
    }

    #[test]
    fn uniform_stick_round_trips_every_class_and_every_raw_position() {
        for spacing in [1u16, 2, 4, 5, 8, 10, 16, 20, 32, 40, 80, 160] {
            let b = AxisBuckets::uniform_stick(spacing).unwrap();
            let n = 160 / spacing as usize + 1;
            assert_eq!(b.len(), n);
            for k in 0..n as u16 {
                assert_eq!(b.encode(b.decode(k)), k, "spacing {spacing} class {k}");
                assert_eq!(b.decode(k), (k * spacing) as f32 / 160.0);
                assert_eq!(b.mirror(b.mirror(k)), k);
                assert_eq!(b.mirror(k) as usize, n - 1 - k as usize);
            }
            for raw in 0..=160u16 {
                let v = raw as f32 / 160.0;
                let k = b.encode(v);
                // The nearest bucket, ties toward neutral (the upper one when both are as near),
                // by brute force in whole raw units.
                let bucket = |k: usize| (k * spacing as usize) as i32;
                let best = (0..n)
                    .min_by_key(|&j| {
                        let d = (bucket(j) - raw as i32).abs();
                        (d, (bucket(j) - 80).abs(), std::cmp::Reverse(j))
                    })
                    .unwrap();
                assert_eq!(k as usize, best, "spacing {spacing} raw {raw}");
                // Encoding commutes with the mirror, except where no bucket is nearer neutral.
                if !(raw == 80 && 80 % spacing != 0) {
                    assert_eq!(
                        b.encode(1.0 - v),
                        b.mirror(k),
                        "spacing {spacing} raw {raw}"
                    );
                }
            }
        }
    }

    #[test]
    fn default_targets_have_17_stick_classes_with_neutral_in_the_middle() {
        let coder = TargetCoder::new(TargetConfig::default()).unwrap();
        let n = coder.num_classes();
        assert_eq!(
            (n.main_x, n.main_y, n.c_x, n.c_y, n.shoulder),
            (17, 17, 17, 17, 5)
        );
        let t = coder.encode(&Controller::NEUTRAL);
        assert_eq!(
            (t.main_x, t.main_y, t.c_x, t.c_y, t.shoulder),
            (8, 8, 8, 8, 0)
        );
        assert_eq!(coder.decode(&t), Controller::NEUTRAL);
        // Raw 85 (0.53125) is between buckets 80 and 90: it goes to neutral.
        assert_eq!(coder.stick_axes()[0].encode(85.0 / 160.0), 8);
        assert_eq!(coder.stick_axes()[0].encode(75.0 / 160.0), 8);
        assert_eq!(coder.stick_axes()[0].encode(86.0 / 160.0), 9);
        // Out of range and not-a-number input.
        let t = coder.encode(&Controller {
            main_x: 7.0,
            main_y: -1.0,
            c_x: f32::NAN,
            shoulder: f32::NAN,
            ..Controller::NEUTRAL
        });
        assert_eq!((t.main_x, t.main_y, t.c_x, t.shoulder), (16, 0, 8, 0));
        // A class past the last decodes as the last.
        let c = coder.decode(&Targets {
            main_x: 400,
            shoulder: 9,
            ..Targets::default()
        });
        assert_eq!((c.main_x, c.shoulder), (1.0, 1.0));
    }

    #[test]
    fn shoulder_buckets_round_trip() {
        for n in [2usize, 3, 5, 9, 33] {
            let b = AxisBuckets::shoulder(n).unwrap();
            for k in 0..n as u16 {
                assert_eq!(b.encode(b.decode(k)), k);
            }
            for i in 0..=1000 {
                let v = i as f32 / 1000.0;
                let k = b.encode(v) as usize;
                let d = (b.decode(k as u16) - v).abs();
                assert!(
                    b.values().iter().all(|&c| (c - v).abs() >= d - 1e-6),
                    "n {n} v {v}"
                );
            }
        }
        let b = AxisBuckets::shoulder(5).unwrap();
        assert_eq!(b.values(), [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(b.encode(0.3), 1);
        assert_eq!(b.encode(0.9), 4);
    }

    fn sample_controllers() -> Vec<Controller> {
        let mut out = Vec::new();
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for _ in 0..2000 {
            let mut raw = || (next() % 161) as f32 / 160.0;
            let c = Controller {
                main_x: raw(),
                main_y: raw(),
                c_x: raw(),
                c_y: raw(),
                shoulder: raw(),
                buttons: Buttons(0),
            };
            out.push(Controller {
                buttons: Buttons((next() & 0xff) as u8),
                ..c
            });
        }
        out
    }

    #[test]
    fn targets_round_trip_and_mirror_for_uniform_buckets() {
        for spacing in [5u16, 10, 20] {
            let coder = TargetCoder::new(TargetConfig::uniform(spacing)).unwrap();
            for c in sample_controllers() {
                let t = coder.encode(&c);
                let d = coder.decode(&t);
                // Decoding gives the nearest representable value, and re-encodes to itself.
                assert_eq!(coder.encode(&d), t);
                assert_eq!(d.buttons, c.buttons);
                for (axis, (v, dv)) in [(c.main_x, d.main_x), (c.c_y, d.c_y)]
                    .into_iter()
                    .enumerate()
                {
                    assert!((v - dv).abs() <= spacing as f32 / 320.0 + 1e-6, "{axis}");
                }
                // Mirroring is an involution and commutes with encoding.
                let m = coder.mirror(&t);
                assert_eq!(coder.mirror(&m), t);
                assert_eq!(coder.encode(&c.mirrored()), m);
                assert_eq!(
                    (m.main_y, m.c_y, m.shoulder, m.buttons),
                    (t.main_y, t.c_y, t.shoulder, t.buttons)
                );
            }
        }
    }

    fn symmetric(inner: &[f32]) -> Vec<f32> {
        // 0.5 plus each inner value below 0.5 and its mirror.
        let mut v: Vec<f32> = inner.iter().flat_map(|&x| [x, 1.0 - x]).collect();
        v.push(0.5);
        v.sort_by(f32::total_cmp);
        v
    }

    #[test]
    fn kmeans_targets_round_trip_and_mirror() {
        // No midpoint between two centres falls on the raw grid, where f32 rounding of `1 − v`
        // could break a tie differently on the two sides.
        let x = symmetric(&[0.0, 0.13, 0.3, 0.42]);
        let y = vec![0.0, 0.2, 0.3, 0.5, 0.55, 0.8, 1.0];
        let coder = TargetCoder::new(TargetConfig::kmeans(AxisCenters {
            main_x: x.clone(),
            main_y: y.clone(),
            c_x: x.clone(),
            c_y: vec![0.0, 0.5, 1.0],
        }))
        .unwrap();
        let n = coder.num_classes();
        assert_eq!((n.main_x, n.main_y, n.c_x, n.c_y), (9, 7, 9, 3));
        for axis in coder.stick_axes() {
            for k in 0..axis.len() as u16 {
                assert_eq!(axis.encode(axis.decode(k)), k);
            }
            for i in 0..=1600 {
                let v = i as f32 / 1600.0;
                assert_eq!(
                    axis.encode(v) as usize,
                    nearest(axis.values(), v, 0.5),
                    "v {v}"
                );
            }
        }
        for c in sample_controllers() {
            let t = coder.encode(&c);
            assert_eq!(coder.encode(&coder.decode(&t)), t);
            let m = coder.mirror(&t);
            assert_eq!(coder.mirror(&m), t, "symmetric centres mirror exactly");
            assert_eq!(coder.encode(&c.mirrored()), m);
        }
        // Asymmetric centres: mirror goes to the nearest centre of the mirrored value.
        let b = AxisBuckets::centers("main_y", &y).unwrap();
        // 0.2 ↔ 0.8; 0.3 → 0.7 → nearest 0.8; 0.55 → 0.45 → nearest 0.5.
        assert_eq!(b.mirror(1), 5);
        assert_eq!(b.mirror(2), 5);
        assert_eq!(b.mirror(4), 3);
    }

    #[test]
    fn bad_centres_name_the_axis() {
        let e = TargetCoder::new(TargetConfig::kmeans(AxisCenters {
            main_x: vec![0.0, 1.0],
            main_y: vec![0.0, 1.0],
            c_x: vec![0.0, 1.0],
            c_y: vec![0.0, 0.0],
        }))
        .unwrap_err();
        assert_eq!(
            e,
            ConfigError::CentersNotIncreasing {
                axis: "c_y",
                index: 1
            }
        );
        let e = AxisBuckets::centers("c_x", &[0.2, 2.0]).unwrap_err();
        assert!(e.to_string().contains("axis c_x: centre 1 is 2"), "{e}");
        assert!(TargetCoder::new(TargetConfig::uniform(7)).is_err());
    }
}
