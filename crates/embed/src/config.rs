//! Configuration of the controller targets: how stick axes and the shoulder become classes.
//!
//! In TOML (the same shape in JSON):
//!
//! ```toml
//! shoulder_buckets = 5
//! stick = { kind = "uniform", spacing = 10 }     # 160 / 10 + 1 = 17 classes per axis
//! # stick = { kind = "kmeans", main_x = [0.0, …, 1.0], main_y = […], c_x = […], c_y = […] }
//! ```

use serde::{Deserialize, Serialize};

/// Raw GameCube stick units across one axis: an axis runs from −80 to 80, so a stick value `v` in
/// 0..1 sits at raw position `v × 160` (0..=160, 80 is neutral).
pub const STICK_RAW_SPAN: u16 = 160;

/// Default uniform stick spacing in raw units: 10, giving 17 classes per axis.
pub const DEFAULT_STICK_SPACING: u16 = 10;

/// Default number of shoulder classes: 0, 0.25, 0.5, 0.75, 1.
pub const DEFAULT_SHOULDER_BUCKETS: usize = 5;

/// The most classes one head may have (classes are stored as `u16`).
pub const MAX_CLASSES: usize = u16::MAX as usize;

/// Names of the four stick axes, in the order [`AxisCenters::axes`] yields them.
pub(crate) const AXIS_NAMES: [&str; 4] = ["main_x", "main_y", "c_x", "c_y"];

/// How the controller targets are discretised. Build a [`TargetCoder`](crate::TargetCoder) from
/// it; the constructor validates it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    /// How each stick axis (main x/y, C x/y) becomes classes.
    pub stick: StickDiscretization,
    /// Shoulder classes, evenly spaced over 0..1 including both ends (at least 2; default 5).
    pub shoulder_buckets: usize,
}

impl Default for TargetConfig {
    fn default() -> TargetConfig {
        TargetConfig {
            stick: StickDiscretization::default(),
            shoulder_buckets: DEFAULT_SHOULDER_BUCKETS,
        }
    }
}

impl TargetConfig {
    /// Uniform stick buckets `spacing` raw units apart, default shoulder.
    pub fn uniform(spacing: u16) -> TargetConfig {
        TargetConfig {
            stick: StickDiscretization::Uniform { spacing },
            ..TargetConfig::default()
        }
    }

    /// K-means stick centres, default shoulder.
    pub fn kmeans(centers: AxisCenters) -> TargetConfig {
        TargetConfig {
            stick: StickDiscretization::KMeans(centers),
            ..TargetConfig::default()
        }
    }

    /// Checks every rule; the error names the rule broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.stick.validate()?;
        validate_shoulder(self.shoulder_buckets)
    }
}

/// How one stick axis becomes classes. The same rule applies to all four axes (main x/y,
/// C-stick x/y); k-means gives each axis its own centres.
///
/// Both are **per axis (1-D)**: the x and y classes of a stick are predicted by separate heads,
/// as with uniform buckets, rather than one class per 2-D stick position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum StickDiscretization {
    /// Buckets every `spacing` raw stick units from −80 to 80: `160 / spacing + 1` classes, with
    /// a class at neutral whenever `spacing` divides 80. `spacing` must divide 160.
    #[serde(rename = "uniform")]
    Uniform {
        /// Raw stick units between neighbouring classes (default 10: 17 classes).
        #[serde(default = "default_spacing")]
        spacing: u16,
    },
    /// One class per k-means centre, per axis (as `exphil kmeans` fits them; load its file with
    /// [`StickDiscretization::from_centers_file`]).
    #[serde(rename = "kmeans")]
    KMeans(AxisCenters),
}

fn default_spacing() -> u16 {
    DEFAULT_STICK_SPACING
}

impl Default for StickDiscretization {
    fn default() -> StickDiscretization {
        StickDiscretization::Uniform {
            spacing: DEFAULT_STICK_SPACING,
        }
    }
}

impl StickDiscretization {
    /// Checks every rule; the error names the rule broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            StickDiscretization::Uniform { spacing } => {
                if STICK_RAW_SPAN.checked_rem(*spacing) != Some(0) {
                    return Err(ConfigError::StickSpacing { spacing: *spacing });
                }
                Ok(())
            }
            StickDiscretization::KMeans(centers) => centers.validate(),
        }
    }
}

/// K-means centres for each stick axis, in 0..1 (0.5 is neutral), strictly increasing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisCenters {
    /// Main stick x.
    pub main_x: Vec<f32>,
    /// Main stick y.
    pub main_y: Vec<f32>,
    /// C-stick x.
    pub c_x: Vec<f32>,
    /// C-stick y.
    pub c_y: Vec<f32>,
}

impl AxisCenters {
    /// The four axes with their names (`main_x`, `main_y`, `c_x`, `c_y`).
    pub fn axes(&self) -> [(&'static str, &[f32]); 4] {
        [
            (AXIS_NAMES[0], &self.main_x),
            (AXIS_NAMES[1], &self.main_y),
            (AXIS_NAMES[2], &self.c_x),
            (AXIS_NAMES[3], &self.c_y),
        ]
    }

    /// Checks that every axis has 2..=[`MAX_CLASSES`] finite centres in 0..1, strictly
    /// increasing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (axis, centers) in self.axes() {
            validate_centers(axis, centers)?;
        }
        Ok(())
    }
}

/// Checks one axis's centres: 2..=[`MAX_CLASSES`] of them, in 0..1, strictly increasing.
pub(crate) fn validate_centers(axis: &'static str, centers: &[f32]) -> Result<(), ConfigError> {
    if centers.len() < 2 {
        return Err(ConfigError::TooFewCenters {
            axis,
            len: centers.len(),
        });
    }
    if centers.len() > MAX_CLASSES {
        return Err(ConfigError::TooManyCenters {
            axis,
            len: centers.len(),
        });
    }
    for (index, &value) in centers.iter().enumerate() {
        if !(0.0..=1.0).contains(&value) {
            return Err(ConfigError::CenterOutOfRange { axis, index, value });
        }
        if index > 0 && centers[index - 1] >= value {
            return Err(ConfigError::CentersNotIncreasing { axis, index });
        }
    }
    Ok(())
}

/// Checks the number of shoulder classes.
pub(crate) fn validate_shoulder(buckets: usize) -> Result<(), ConfigError> {
    if !(2..=MAX_CLASSES).contains(&buckets) {
        return Err(ConfigError::ShoulderBuckets { buckets });
    }
    Ok(())
}

/// A configuration that breaks a rule; the message names the rule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Uniform stick spacing that does not divide 160.
    #[error(
        "stick spacing {spacing} must divide 160 (an axis spans 160 raw stick units, −80..80): \
         use 1, 2, 4, 5, 8, 10, 16, 20, 32, 40, 80 or 160"
    )]
    StickSpacing {
        /// The spacing given.
        spacing: u16,
    },
    /// Fewer than two shoulder classes, or too many.
    #[error("shoulder_buckets {buckets} must be between 2 and {MAX_CLASSES}")]
    ShoulderBuckets {
        /// The number given.
        buckets: usize,
    },
    /// A k-means axis with fewer than two centres.
    #[error("k-means stick axis {axis} has {len} centres; it needs at least 2")]
    TooFewCenters {
        /// The axis.
        axis: &'static str,
        /// How many centres it has.
        len: usize,
    },
    /// A k-means axis with more centres than a class index can hold.
    #[error("k-means stick axis {axis} has {len} centres; at most {MAX_CLASSES} are allowed")]
    TooManyCenters {
        /// The axis.
        axis: &'static str,
        /// How many centres it has.
        len: usize,
    },
    /// A k-means centre outside 0..1 (or not a number).
    #[error("k-means stick axis {axis}: centre {index} is {value}, outside 0..1")]
    CenterOutOfRange {
        /// The axis.
        axis: &'static str,
        /// The centre's index.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// K-means centres not strictly increasing.
    #[error(
        "k-means stick axis {axis}: centres must be strictly increasing, but centre {index} is not \
         above centre {}",
        index - 1
    )]
    CentersNotIncreasing {
        /// The axis.
        axis: &'static str,
        /// The first centre not above its predecessor.
        index: usize,
    },
    /// Symmetric x-axis centres asked for with an even k.
    #[error(
        "symmetric x-axis centres need an odd k (neutral is the middle centre, the rest come in \
         mirrored pairs); k is {k}: use an odd k or fit the x axes as recorded"
    )]
    SymmetricEvenK {
        /// The k given.
        k: usize,
    },
    /// K-means asked for no centres.
    #[error("k-means k must be at least 1")]
    KMeansK,
    /// K-means with no iteration or no restart.
    #[error("k-means {field} must be at least 1")]
    KMeansAtLeastOne {
        /// `max_iterations` or `restarts`.
        field: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_17_stick_classes_and_5_shoulder_classes() {
        let c = TargetConfig::default();
        assert_eq!(c.stick, StickDiscretization::Uniform { spacing: 10 });
        assert_eq!(c.shoulder_buckets, 5);
        c.validate().unwrap();
    }

    #[test]
    fn spacing_must_divide_160() {
        for spacing in [1, 2, 4, 5, 8, 10, 16, 20, 32, 40, 80, 160] {
            TargetConfig::uniform(spacing).validate().unwrap();
        }
        for spacing in [0, 3, 7, 12, 15, 161, 320] {
            let e = TargetConfig::uniform(spacing).validate().unwrap_err();
            assert_eq!(e, ConfigError::StickSpacing { spacing });
        }
        let msg = TargetConfig::uniform(7).validate().unwrap_err().to_string();
        assert!(msg.contains("spacing 7 must divide 160"), "{msg}");
    }

    #[test]
    fn shoulder_needs_two_buckets() {
        for buckets in [0, 1] {
            let c = TargetConfig {
                shoulder_buckets: buckets,
                ..TargetConfig::default()
            };
            let msg = c.validate().unwrap_err().to_string();
            assert!(msg.contains("between 2 and"), "{msg}");
        }
    }

    fn centers(v: &[f32]) -> AxisCenters {
        AxisCenters {
            main_x: v.to_vec(),
            main_y: v.to_vec(),
            c_x: v.to_vec(),
            c_y: v.to_vec(),
        }
    }

    #[test]
    fn kmeans_centres_are_checked() {
        TargetConfig::kmeans(centers(&[0.0, 0.5, 1.0]))
            .validate()
            .unwrap();
        let bad = |v: &[f32]| {
            TargetConfig::kmeans(centers(v))
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert!(bad(&[0.5]).contains("main_x has 1 centres; it needs at least 2"));
        assert!(bad(&[0.0, 1.5]).contains("centre 1 is 1.5, outside 0..1"));
        assert!(bad(&[0.0, f32::NAN]).contains("outside 0..1"));
        assert!(bad(&[0.0, 0.6, 0.6]).contains("strictly increasing"));
        let mut c = centers(&[0.0, 1.0]);
        c.c_y = vec![1.0, 0.0];
        let e = TargetConfig::kmeans(c).validate().unwrap_err();
        assert_eq!(
            e,
            ConfigError::CentersNotIncreasing {
                axis: "c_y",
                index: 1
            }
        );
    }

    #[test]
    fn config_is_a_tagged_enum_that_denies_unknown_fields() {
        let c: TargetConfig =
            serde_json::from_str(r#"{"stick": {"kind": "uniform", "spacing": 20}}"#).unwrap();
        assert_eq!(c, TargetConfig::uniform(20));
        let c: TargetConfig = serde_json::from_str(r#"{"stick": {"kind": "uniform"}}"#).unwrap();
        assert_eq!(c, TargetConfig::default());
        let c: TargetConfig = serde_json::from_str(
            r#"{"shoulder_buckets": 3, "stick": {"kind": "kmeans",
                "main_x": [0, 1], "main_y": [0, 1], "c_x": [0, 1], "c_y": [0, 0.5, 1]}}"#,
        )
        .unwrap();
        assert_eq!(c.shoulder_buckets, 3);
        let mut expected = centers(&[0.0, 1.0]);
        expected.c_y = vec![0.0, 0.5, 1.0];
        assert_eq!(c.stick, StickDiscretization::KMeans(expected));
        // Round trip through JSON.
        let back: TargetConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        for bad in [
            r#"{"stick": {"kind": "uniform", "spacing": 10, "buckets": 3}}"#,
            r#"{"stick": {"kind": "grid"}}"#,
            r#"{"stick": {"kind": "kmeans", "main_x": [0, 1]}}"#,
            r#"{"shoulder": 5}"#,
        ] {
            assert!(serde_json::from_str::<TargetConfig>(bad).is_err(), "{bad}");
        }
    }
}
