//! Stick k-means centres from replays: per-axis histograms of raw stick positions, the fit on
//! them, and the JSON file `exphil kmeans` writes (loaded back with
//! [`StickDiscretization::from_centers_file`]).
//!
//! Each axis is fitted on its own (1-D k-means, [`crate::kmeans`]). Processed stick values sit on
//! the GameCube's raw grid (`v × 160` is a whole number 0..=160), so an axis is a histogram of
//! 161 counts however many frames fed it. With `symmetric_x` the x axes are fitted on the data
//! together with its left/right mirror image, with centres symmetric about 0.5 (neutral in the
//! middle, mirrored pairs around it), so mirroring a target (augmentation) is exact.

use crate::config::{validate_centers, AxisCenters, ConfigError, StickDiscretization, AXIS_NAMES};
use crate::error::{Error, Result};
use crate::kmeans::{KMeans, KMeansConfig, KMeansError};
use exphil_state::Controller;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Raw stick positions on one axis (0..=160).
const POSITIONS: usize = 161;

/// How often each raw position (0..=160, `v × 160` rounded) was seen on one axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxisHistogram {
    counts: [u64; POSITIONS],
    off_grid: u64,
}

impl Default for AxisHistogram {
    fn default() -> AxisHistogram {
        AxisHistogram {
            counts: [0; POSITIONS],
            off_grid: 0,
        }
    }
}

impl AxisHistogram {
    /// Counts one value in 0..1 (clamped; not a number counts as neutral, 0.5).
    pub fn add(&mut self, v: f32) {
        let v = if v.is_nan() { 0.5 } else { v.clamp(0.0, 1.0) };
        let x = v * 160.0;
        let raw = x.round();
        if (x - raw).abs() > 0.01 {
            self.off_grid += 1;
        }
        self.counts[raw as usize] += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &AxisHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.off_grid += other.off_grid;
    }

    /// Count per raw position 0..=160.
    pub fn counts(&self) -> &[u64; 161] {
        &self.counts
    }

    /// Values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Values that were not within 0.01 raw units of the grid (rounded to it); 0 for replays.
    pub fn off_grid(&self) -> u64 {
        self.off_grid
    }

    /// The left/right mirror image (position `p` counted at `160 − p`).
    pub fn mirrored(&self) -> AxisHistogram {
        let mut counts = self.counts;
        counts.reverse();
        AxisHistogram {
            counts,
            off_grid: self.off_grid,
        }
    }

    /// Centres fitted by `kmeans` on this axis, in 0..1, increasing.
    fn fit(&self, kmeans: &KMeans) -> std::result::Result<Vec<f32>, KMeansError> {
        let values: Vec<f64> = (0..POSITIONS).map(|p| p as f64).collect();
        let weights: Vec<f64> = self.counts.iter().map(|&c| c as f64).collect();
        let fit = kmeans.fit_weighted(&values, &weights)?;
        Ok(fit.centers.iter().map(|&c| (c / 160.0) as f32).collect())
    }

    /// Odd `k` centres symmetric about 0.5, fitted on this axis and its mirror image: k-means
    /// on the distance from neutral (0..=80, both sides together) with one centre pinned at 0.
    fn fit_symmetric(&self, kmeans: &KMeans) -> std::result::Result<Vec<f32>, KMeansError> {
        let k = kmeans.config().k;
        let half = KMeans::new(KMeansConfig {
            k: k / 2 + 1,
            ..kmeans.config().clone()
        })
        .expect("k / 2 + 1 ≥ 1, the rest as already validated");
        let distances: Vec<f64> = (0..=80).map(|d| d as f64).collect();
        let weights: Vec<f64> = (0..=80usize)
            .map(|d| match d {
                0 => self.counts[80] as f64,
                _ => (self.counts[80 + d] + self.counts[80 - d]) as f64,
            })
            .collect();
        let fit = half
            .fit_anchored(&distances, &weights, &[0.0])
            .map_err(|e| match e {
                // Report the unfolded problem: k centres, distinct positions of both sides.
                KMeansError::TooFewDistinct { .. } => KMeansError::TooFewDistinct {
                    k,
                    distinct: (0..POSITIONS)
                        .filter(|&p| self.counts[p] + self.counts[160 - p] > 0)
                        .count(),
                },
                e => e,
            })?;
        // fit.centers: 0 (neutral) then the distances of the pairs, increasing.
        let lower: Vec<f32> = fit.centers[1..]
            .iter()
            .rev()
            .map(|&d| ((80.0 - d) / 160.0) as f32)
            .collect();
        let mut out = lower.clone();
        out.push(0.5);
        out.extend(lower.iter().rev().map(|&v| 1.0 - v));
        Ok(out)
    }
}

/// Histograms of the four stick axes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StickHistograms {
    /// Main stick x.
    pub main_x: AxisHistogram,
    /// Main stick y.
    pub main_y: AxisHistogram,
    /// C-stick x.
    pub c_x: AxisHistogram,
    /// C-stick y.
    pub c_y: AxisHistogram,
}

impl StickHistograms {
    /// Counts one controller's stick values.
    pub fn add(&mut self, c: &Controller) {
        self.main_x.add(c.main_x);
        self.main_y.add(c.main_y);
        self.c_x.add(c.c_x);
        self.c_y.add(c.c_y);
    }

    /// Adds another set of histograms.
    pub fn merge(&mut self, other: &StickHistograms) {
        self.main_x.merge(&other.main_x);
        self.main_y.merge(&other.main_y);
        self.c_x.merge(&other.c_x);
        self.c_y.merge(&other.c_y);
    }

    /// Controllers counted.
    pub fn samples(&self) -> u64 {
        self.main_x.total()
    }

    /// The four axes with their names (`main_x`, `main_y`, `c_x`, `c_y`).
    pub fn axes(&self) -> [(&'static str, &AxisHistogram); 4] {
        [
            (AXIS_NAMES[0], &self.main_x),
            (AXIS_NAMES[1], &self.main_y),
            (AXIS_NAMES[2], &self.c_x),
            (AXIS_NAMES[3], &self.c_y),
        ]
    }
}

/// Fits `kmeans.config().k` (at least 2) centres per stick axis. With `symmetric_x` (which needs
/// an odd k), the x axes are fitted on their data plus its mirror image with centres symmetric
/// about 0.5: neutral is the middle centre and the others come in mirrored pairs (k-means on the
/// distance from neutral, with a centre pinned at distance 0).
pub fn fit_stick_centers(
    histograms: &StickHistograms,
    kmeans: &KMeans,
    symmetric_x: bool,
) -> Result<AxisCenters> {
    let k = kmeans.config().k;
    let mut out: Vec<Vec<f32>> = Vec::with_capacity(4);
    for (i, (axis, h)) in histograms.axes().into_iter().enumerate() {
        if k < 2 {
            return Err(ConfigError::TooFewCenters { axis, len: k }.into());
        }
        let x_axis = i % 2 == 0;
        let centers = if symmetric_x && x_axis {
            if k % 2 != 1 {
                return Err(ConfigError::SymmetricEvenK { k }.into());
            }
            h.fit_symmetric(kmeans)
        } else {
            h.fit(kmeans)
        }
        .map_err(|error| Error::KMeans { axis, error })?;
        validate_centers(axis, &centers)?;
        out.push(centers);
    }
    let [main_x, main_y, c_x, c_y]: [Vec<f32>; 4] =
        out.try_into().expect("one centre list per axis, four axes");
    Ok(AxisCenters {
        main_x,
        main_y,
        c_x,
        c_y,
    })
}

/// The stick-centres file `exphil kmeans` writes (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickCenters {
    /// File format version ([`StickCenters::VERSION`]).
    pub version: u32,
    /// Centres per axis asked for.
    pub k: usize,
    /// K-means seed.
    pub seed: u64,
    /// Whether the x axes were fitted on the data and its mirror (symmetric centres).
    pub symmetric_x: bool,
    /// Replays the values came from.
    pub replays: usize,
    /// Frames of those replays.
    pub frames: u64,
    /// Controller samples (player-frames) per axis.
    pub samples: u64,
    /// The centres, in 0..1 (raw position / 160).
    pub centers: AxisCenters,
}

impl StickCenters {
    /// The format version this build writes and reads.
    pub const VERSION: u32 = 1;

    /// Reads and checks a centres file.
    pub fn read(path: &Path) -> Result<StickCenters> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let bad = |error| Error::CentersFile {
            path: path.to_path_buf(),
            error,
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
        if let Some(version) = value.get("version").and_then(|v| v.as_u64()) {
            if version != StickCenters::VERSION as u64 {
                return Err(Error::CentersVersion {
                    path: path.to_path_buf(),
                    version: version.min(u32::MAX as u64) as u32,
                    supported: StickCenters::VERSION,
                });
            }
        }
        let file: StickCenters = serde_json::from_value(value).map_err(bad)?;
        file.centers
            .validate()
            .map_err(|error| Error::InvalidCenters {
                path: path.to_path_buf(),
                error,
            })?;
        Ok(file)
    }

    /// Writes the file (pretty JSON).
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |error| Error::Io {
            path: path.to_path_buf(),
            error,
        };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| io(e.into()))?;
        text.push('\n');
        std::fs::write(path, text).map_err(io)
    }
}

impl StickDiscretization {
    /// K-means stick classes from a file `exphil kmeans` wrote.
    pub fn from_centers_file(path: &Path) -> Result<StickDiscretization> {
        Ok(StickDiscretization::KMeans(
            StickCenters::read(path)?.centers,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TargetCoder, TargetConfig};

    /// A stick-like axis: mostly neutral, some full tilts, a few in between.
    fn stick_like(h: &mut AxisHistogram, skew: i32) {
        let mut seed = 99u64 + skew as u64;
        for i in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (seed >> 33) as i32;
            let raw = match i % 10 {
                0..=5 => 80,
                6 => 0,
                7 => 160 - skew,
                _ => r % 161,
            };
            h.add(raw as f32 / 160.0);
        }
    }

    fn histograms() -> StickHistograms {
        let mut h = StickHistograms::default();
        stick_like(&mut h.main_x, 10);
        stick_like(&mut h.main_y, 0);
        stick_like(&mut h.c_x, 30);
        stick_like(&mut h.c_y, 0);
        h
    }

    fn kmeans(k: usize, seed: u64) -> KMeans {
        KMeans::new(KMeansConfig {
            k,
            seed,
            ..KMeansConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn histogram_counts_raw_positions() {
        let mut h = AxisHistogram::default();
        for v in [0.5, 0.5, 0.0, 1.0, 1.5, -2.0, f32::NAN, 81.0 / 160.0, 0.503] {
            h.add(v);
        }
        assert_eq!(h.total(), 9);
        assert_eq!(h.counts()[80], 4);
        assert_eq!(h.counts()[0], 2);
        assert_eq!(h.counts()[160], 2);
        assert_eq!(h.counts()[81], 1);
        assert_eq!(h.off_grid(), 1, "0.503 × 160 = 80.48");
        assert_eq!(h.mirrored().counts()[79], 1);
    }

    #[test]
    fn symmetric_fit_mirrors_exactly_and_round_trips() {
        let h = histograms();
        let c = fit_stick_centers(&h, &kmeans(21, 3), true).unwrap();
        for (axis, v) in c.axes() {
            assert_eq!(v.len(), 21, "{axis}");
            assert!(v.windows(2).all(|w| w[0] < w[1]), "{axis}: {v:?}");
            assert!(v.iter().any(|&x| (x - 0.5).abs() < 0.01), "{axis}: {v:?}");
        }
        for v in [&c.main_x, &c.c_x] {
            assert_eq!(v[10], 0.5);
            for i in 0..21 {
                assert!((v[i] - (1.0 - v[20 - i])).abs() < 1e-6);
            }
        }
        let coder = TargetCoder::new(TargetConfig::kmeans(c.clone())).unwrap();
        for axis in coder.stick_axes() {
            for k in 0..axis.len() as u16 {
                assert_eq!(axis.encode(axis.decode(k)), k);
            }
        }
        for axis in [coder.stick_axes()[0], coder.stick_axes()[2]] {
            for k in 0..21u16 {
                assert_eq!(axis.mirror(k), 20 - k);
            }
        }
        // The same seed gives the same centres; the asymmetric fit differs on skewed x axes.
        assert_eq!(
            fit_stick_centers(&h, &kmeans(21, 3), true).unwrap(),
            fit_stick_centers(&h, &kmeans(21, 3), true).unwrap()
        );
        let raw = fit_stick_centers(&h, &kmeans(21, 3), false).unwrap();
        assert_ne!(raw.c_x, c.c_x);
        assert_eq!(
            raw.main_y, c.main_y,
            "y axes are fitted as recorded either way"
        );
    }

    #[test]
    fn fit_errors_name_the_axis() {
        let mut h = StickHistograms::default();
        for v in [0.0, 0.5, 1.0] {
            h.add(&Controller {
                main_x: v,
                main_y: v,
                c_x: v,
                c_y: 0.5,
                ..Controller::NEUTRAL
            });
        }
        let e = fit_stick_centers(&h, &kmeans(3, 0), false).unwrap_err();
        assert!(
            e.to_string()
                .contains("k-means on the c_y axis: asked for 3 centres but the data has only 1"),
            "{e}"
        );
        let e = fit_stick_centers(&h, &kmeans(1, 0), false).unwrap_err();
        assert!(e.to_string().contains("needs at least 2"), "{e}");
        let e = fit_stick_centers(&StickHistograms::default(), &kmeans(3, 0), true).unwrap_err();
        assert!(e.to_string().contains("main_x axis: no data"), "{e}");
        let e = fit_stick_centers(&histograms(), &kmeans(4, 0), true).unwrap_err();
        assert!(e.to_string().contains("need an odd k"), "{e}");
        fit_stick_centers(&histograms(), &kmeans(4, 0), false).unwrap();
        // Too few positions for a symmetric fit: reported for the unfolded axis.
        let e = fit_stick_centers(&h, &kmeans(5, 0), true).unwrap_err();
        assert!(
            e.to_string().contains(
                "k-means on the main_x axis: asked for 5 centres but the data has only 3 distinct"
            ),
            "{e}"
        );
    }

    #[test]
    fn centres_file_round_trips_and_is_checked() {
        let dir = std::env::temp_dir().join(format!("exphil-embed-centers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("centers.json");
        let file = StickCenters {
            version: StickCenters::VERSION,
            k: 5,
            seed: 1,
            symmetric_x: true,
            replays: 2,
            frames: 100,
            samples: 200,
            centers: fit_stick_centers(&histograms(), &kmeans(5, 1), true).unwrap(),
        };
        file.write(&path).unwrap();
        assert_eq!(StickCenters::read(&path).unwrap(), file);
        let stick = StickDiscretization::from_centers_file(&path).unwrap();
        assert_eq!(stick, StickDiscretization::KMeans(file.centers.clone()));
        TargetCoder::new(TargetConfig {
            stick,
            ..TargetConfig::default()
        })
        .unwrap();

        let write = |text: &str| {
            std::fs::write(&path, text).unwrap();
            StickDiscretization::from_centers_file(&path)
                .unwrap_err()
                .to_string()
        };
        let mut j = serde_json::to_value(&file).unwrap();
        j["version"] = 2.into();
        assert!(write(&j.to_string()).contains("version 2; this build reads version 1"));
        let mut j = serde_json::to_value(&file).unwrap();
        j["centers"]["c_y"] = serde_json::json!([0.5, 0.25]);
        let msg = write(&j.to_string());
        assert!(
            msg.contains("centers.json: k-means stick axis c_y"),
            "{msg}"
        );
        assert!(write("{}").contains("not a stick-centres file"));
        assert!(write("PNG").contains("not a stick-centres file"));
        let missing = StickCenters::read(&dir.join("missing.json")).unwrap_err();
        assert!(missing.to_string().contains("missing.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
