//! One-dimensional weighted k-means: k-means++ initialisation from a seeded RNG, then Lloyd
//! iterations until no value changes cluster, best of several restarts. Deterministic for a seed.
//!
//! Stick axes are quantised (161 raw positions), so the stick fit runs on a weighted histogram
//! of at most 161 distinct values however many frames went into it: millions of samples fit in
//! microseconds. [`KMeans::fit`] collapses raw samples the same way (sort once, count repeats).
//! [`KMeans::fit_anchored`] pins some centres (the symmetric stick fit pins neutral).
//!
//! Reference: Arthur & Vassilvitskii, "k-means++: the advantages of careful seeding" (SODA 2007).

use crate::config::ConfigError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// K-means settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KMeansConfig {
    /// Number of centres (default 21).
    pub k: usize,
    /// RNG seed of the k-means++ initialisation (default 0).
    pub seed: u64,
    /// Most Lloyd iterations per restart (default 300).
    pub max_iterations: usize,
    /// Independent initialisations; the fit with the lowest inertia wins (default 10).
    pub restarts: usize,
}

impl Default for KMeansConfig {
    fn default() -> KMeansConfig {
        KMeansConfig {
            k: 21,
            seed: 0,
            max_iterations: 300,
            restarts: 10,
        }
    }
}

impl KMeansConfig {
    /// Checks every rule; the error names the rule broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.k == 0 {
            return Err(ConfigError::KMeansK);
        }
        if self.max_iterations == 0 {
            return Err(ConfigError::KMeansAtLeastOne {
                field: "max_iterations",
            });
        }
        if self.restarts == 0 {
            return Err(ConfigError::KMeansAtLeastOne { field: "restarts" });
        }
        Ok(())
    }
}

/// Why a fit failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum KMeansError {
    /// No value with a positive weight.
    #[error("no data to fit (no values, or only zero weights)")]
    NoData,
    /// Fewer distinct values than centres asked for.
    #[error("asked for {k} centres but the data has only {distinct} distinct values; lower k")]
    TooFewDistinct {
        /// Centres asked for.
        k: usize,
        /// Distinct values with a positive weight.
        distinct: usize,
    },
    /// A value that is not finite, or a weight that is negative or not finite.
    #[error("input {index} is unusable: value {value}, weight {weight} (values must be finite, weights finite and non-negative)")]
    BadInput {
        /// Index in the input.
        index: usize,
        /// The value.
        value: f64,
        /// Its weight.
        weight: f64,
    },
    /// Fixed centres that are not finite, repeat, or outnumber `k`.
    #[error("fixed centres must be finite, distinct and at most k = {k}; got {fixed:?}")]
    BadFixed {
        /// Centres asked for in all.
        k: usize,
        /// The fixed centres given.
        fixed: Vec<f64>,
    },
    /// `values` and `weights` of different lengths.
    #[error("{values} values but {weights} weights")]
    LengthMismatch {
        /// Number of values.
        values: usize,
        /// Number of weights.
        weights: usize,
    },
}

/// A fitted clustering.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KMeansFit {
    /// Centres, strictly increasing.
    pub centers: Vec<f64>,
    /// Weighted sum of squared distances from each value to its centre.
    pub inertia: f64,
    /// Lloyd iterations of the winning restart.
    pub iterations: usize,
    /// Whether the winning restart stopped because no value changed cluster (rather than at
    /// `max_iterations`).
    pub converged: bool,
}

/// A validated k-means fitter.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    config: KMeansConfig,
}

impl KMeans {
    /// Validates `config` and builds the fitter.
    pub fn new(config: KMeansConfig) -> Result<KMeans, ConfigError> {
        config.validate()?;
        Ok(KMeans { config })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &KMeansConfig {
        &self.config
    }

    /// Fits samples (each of weight 1). Sorts a copy once and counts repeats, so many repeated
    /// values cost little.
    pub fn fit(&self, samples: &[f64]) -> Result<KMeansFit, KMeansError> {
        if let Some(index) = samples.iter().position(|v| !v.is_finite()) {
            return Err(KMeansError::BadInput {
                index,
                value: samples[index],
                weight: 1.0,
            });
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (mut values, mut weights) = (Vec::new(), Vec::<f64>::new());
        for v in sorted {
            match (values.last(), weights.last_mut()) {
                (Some(&last), Some(w)) if last == v => *w += 1.0,
                _ => {
                    values.push(v);
                    weights.push(1.0);
                }
            }
        }
        self.fit_weighted(&values, &weights)
    }

    /// Fits values with weights (any order; repeated values are merged; zero weights ignored).
    pub fn fit_weighted(&self, values: &[f64], weights: &[f64]) -> Result<KMeansFit, KMeansError> {
        self.fit_anchored(values, weights, &[])
    }

    /// Like [`KMeans::fit_weighted`], with some of the `k` centres fixed at `fixed` (distinct,
    /// finite, at most `k`): they are part of the clustering but never move. Only the others
    /// are initialised and updated. The symmetric stick fit uses it to pin neutral.
    pub fn fit_anchored(
        &self,
        values: &[f64],
        weights: &[f64],
        fixed: &[f64],
    ) -> Result<KMeansFit, KMeansError> {
        if values.len() != weights.len() {
            return Err(KMeansError::LengthMismatch {
                values: values.len(),
                weights: weights.len(),
            });
        }
        let k = self.config.k;
        let mut anchors = fixed.to_vec();
        anchors.sort_by(f64::total_cmp);
        if anchors.len() > k
            || anchors.iter().any(|v| !v.is_finite())
            || anchors.windows(2).any(|w| w[0] == w[1])
        {
            return Err(KMeansError::BadFixed {
                k,
                fixed: fixed.to_vec(),
            });
        }
        let mut points = Vec::with_capacity(values.len());
        for (index, (&value, &weight)) in values.iter().zip(weights).enumerate() {
            if !value.is_finite() || !weight.is_finite() || weight < 0.0 {
                return Err(KMeansError::BadInput {
                    index,
                    value,
                    weight,
                });
            }
            if weight > 0.0 {
                points.push((value, weight));
            }
        }
        if points.is_empty() {
            return Err(KMeansError::NoData);
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut xs: Vec<f64> = Vec::with_capacity(points.len());
        let mut ws: Vec<f64> = Vec::with_capacity(points.len());
        for (x, w) in points {
            // -0.0 and 0.0 are the same value.
            if xs.last() == Some(&x) {
                *ws.last_mut().expect("ws grows with xs") += w;
            } else {
                xs.push(x);
                ws.push(w);
            }
        }
        // Each free centre starts on a distinct value that is not a fixed centre.
        let free_values = xs.iter().filter(|x| !anchors.contains(x)).count();
        if free_values < k - anchors.len() {
            return Err(KMeansError::TooFewDistinct {
                k,
                distinct: free_values + anchors.len(),
            });
        }
        let mut rng = StdRng::seed_from_u64(self.config.seed);
        let mut best: Option<KMeansFit> = None;
        for _ in 0..self.config.restarts {
            let init = plus_plus(&xs, &ws, k, &anchors, &mut rng);
            let fit = lloyd(&xs, &ws, init, self.config.max_iterations);
            let better = match &best {
                None => true,
                Some(b) => fit.inertia < b.inertia,
            };
            if better {
                best = Some(fit);
            }
        }
        // restarts ≥ 1 (validated), so the loop ran.
        Ok(best.expect("at least one restart"))
    }
}

/// A centre and whether it is fixed.
#[derive(Clone, Copy, Debug)]
struct Center {
    x: f64,
    fixed: bool,
}

/// Picks an index with probability proportional to `p` (all finite, ≥ 0). `None` when they sum
/// to zero.
fn sample(p: impl Iterator<Item = f64> + Clone, rng: &mut StdRng) -> Option<usize> {
    let total: f64 = p.clone().sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let u = rng.gen::<f64>() * total;
    let mut acc = 0.0;
    let mut last_positive = None;
    for (i, pi) in p.enumerate() {
        if pi > 0.0 {
            acc += pi;
            last_positive = Some(i);
            if acc > u {
                return Some(i);
            }
        }
    }
    // Rounding left u at the very top: the last index with mass.
    last_positive
}

/// k-means++: starting from the fixed centres (or, with none, one value drawn by weight), each
/// next centre is a value drawn by weight × squared distance to the nearest centre so far.
/// `xs` are distinct, with at least `k − fixed.len()` of them not fixed centres.
fn plus_plus(xs: &[f64], ws: &[f64], k: usize, fixed: &[f64], rng: &mut StdRng) -> Vec<Center> {
    let mut centers: Vec<Center> = fixed.iter().map(|&x| Center { x, fixed: true }).collect();
    if centers.is_empty() {
        let first = sample(ws.iter().copied(), rng).unwrap_or(0);
        centers.push(Center {
            x: xs[first],
            fixed: false,
        });
    }
    let mut d2: Vec<f64> = xs
        .iter()
        .map(|x| {
            centers
                .iter()
                .map(|c| (x - c.x).powi(2))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    while centers.len() < k {
        let next = sample(ws.iter().zip(&d2).map(|(w, d)| w * d), rng)
            // Only if every remaining distance underflowed to 0: the first value off a centre.
            .or_else(|| xs.iter().position(|x| centers.iter().all(|c| c.x != *x)))
            .expect("enough distinct values off the centres (checked by the caller)");
        centers.push(Center {
            x: xs[next],
            fixed: false,
        });
        for (d, x) in d2.iter_mut().zip(xs) {
            *d = d.min((x - xs[next]).powi(2));
        }
    }
    centers.sort_by(|a, b| a.x.total_cmp(&b.x));
    centers
}

/// Index of the nearest centre for each of the sorted `xs` (centres sorted, distinct; a value
/// exactly between two goes to the lower one).
fn assign(xs: &[f64], centers: &[Center], out: &mut [usize]) -> bool {
    let mut changed = false;
    let mut c = 0;
    for (i, &x) in xs.iter().enumerate() {
        // The nearest centre never moves left as x grows.
        while c + 1 < centers.len() && (x - centers[c + 1].x).abs() < (x - centers[c].x).abs() {
            c += 1;
        }
        if out[i] != c {
            out[i] = c;
            changed = true;
        }
    }
    changed
}

/// Lloyd iterations on sorted distinct `xs` from sorted distinct `centers`; fixed centres stay.
fn lloyd(xs: &[f64], ws: &[f64], mut centers: Vec<Center>, max_iterations: usize) -> KMeansFit {
    let k = centers.len();
    let mut owner = vec![usize::MAX; xs.len()];
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iterations {
        iterations += 1;
        if !assign(xs, &centers, &mut owner) {
            converged = true;
            break;
        }
        // Update: each free centre to the weighted mean of its values.
        let mut sum = vec![0.0; k];
        let mut weight = vec![0.0; k];
        for ((&x, &w), &a) in xs.iter().zip(ws).zip(&owner) {
            sum[a] += w * x;
            weight[a] += w;
        }
        let mut empty = Vec::new();
        for j in 0..k {
            if centers[j].fixed {
                continue;
            }
            if weight[j] > 0.0 {
                centers[j].x = sum[j] / weight[j];
            } else {
                empty.push(j);
            }
        }
        // An empty free cluster restarts at the value farthest from its centre that is not a
        // centre (one exists: there are more such values than free centres).
        for j in empty {
            let far = (0..xs.len())
                .filter(|&i| centers.iter().all(|c| c.x != xs[i]))
                .max_by(|&a, &b| {
                    let da = ws[a] * (xs[a] - centers[owner[a]].x).powi(2);
                    let db = ws[b] * (xs[b] - centers[owner[b]].x).powi(2);
                    da.total_cmp(&db).then(b.cmp(&a))
                });
            if let Some(i) = far {
                centers[j].x = xs[i];
            }
        }
        centers.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    assign(xs, &centers, &mut owner);
    let inertia = xs
        .iter()
        .zip(ws)
        .zip(&owner)
        .map(|((&x, &w), &a)| w * (x - centers[a].x).powi(2))
        .sum();
    KMeansFit {
        centers: centers.iter().map(|c| c.x).collect(),
        inertia,
        iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kmeans(k: usize, seed: u64) -> KMeans {
        KMeans::new(KMeansConfig {
            k,
            seed,
            ..KMeansConfig::default()
        })
        .unwrap()
    }

    /// Deterministic pseudo-random numbers in 0..1 for test data.
    fn noise(n: usize, mut seed: u64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn recovers_known_clusters() {
        let truth = [-5.0, 0.0, 2.0, 10.0];
        let mut data = Vec::new();
        for (j, &c) in truth.iter().enumerate() {
            // Uneven cluster sizes, spread ±0.25.
            for u in noise(200 * (j + 1), j as u64) {
                data.push(c + (u - 0.5) * 0.5);
            }
        }
        for seed in 0..5 {
            let fit = kmeans(4, seed).fit(&data).unwrap();
            assert!(fit.converged);
            for (got, want) in fit.centers.iter().zip(truth) {
                assert!((got - want).abs() < 0.05, "seed {seed}: {:?}", fit.centers);
            }
        }
    }

    #[test]
    fn weighted_equals_repeated() {
        let values = [0.0, 1.0, 2.0, 10.0, 11.0, 30.0];
        let weights = [3.0, 1.0, 2.0, 5.0, 5.0, 1.0];
        let mut repeated = Vec::new();
        for (v, w) in values.iter().zip(weights) {
            for _ in 0..w as usize {
                repeated.push(*v);
            }
        }
        let km = kmeans(3, 9);
        let a = km.fit_weighted(&values, &weights).unwrap();
        let b = km.fit(&repeated).unwrap();
        assert_eq!(a, b);
        // 0,0,0,1,2,2 → 5/6; 10×5, 11×5 → 10.5; 30.
        assert!((a.centers[0] - 5.0 / 6.0).abs() < 1e-12, "{:?}", a.centers);
        assert_eq!(&a.centers[1..], [10.5, 30.0]);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let data: Vec<f64> = noise(5000, 42)
            .iter()
            .map(|u| (u * 160.0).round())
            .collect();
        let a = kmeans(21, 7).fit(&data).unwrap();
        let b = kmeans(21, 7).fit(&data).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.centers.len(), 21);
        assert!(a.centers.windows(2).all(|w| w[0] < w[1]));
        // One restart from another seed usually lands elsewhere; the fit is still valid.
        let c = KMeans::new(KMeansConfig {
            k: 21,
            seed: 8,
            restarts: 1,
            ..KMeansConfig::default()
        })
        .unwrap()
        .fit(&data)
        .unwrap();
        assert_eq!(c.centers.len(), 21);
        assert!(a.inertia <= c.inertia * (1.0 + 1e-9));
    }

    #[test]
    fn fixed_centres_stay_and_count_toward_k() {
        // Mass at 0 and around 3 and 10; pin 0 and fit two more.
        let values = [0.0, 2.0, 3.0, 4.0, 9.0, 10.0, 11.0];
        let weights = [50.0, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0];
        let fit = kmeans(3, 4)
            .fit_anchored(&values, &weights, &[0.0])
            .unwrap();
        assert_eq!(fit.centers, [0.0, 3.0, 10.0]);
        // A pinned centre where no data is still stays put.
        let fit = kmeans(3, 4)
            .fit_anchored(&values, &weights, &[6.5])
            .unwrap();
        assert_eq!(fit.centers.len(), 3);
        assert!(fit.centers.contains(&6.5), "{:?}", fit.centers);
        // Only fixed centres.
        let fit = kmeans(2, 0)
            .fit_anchored(&values, &weights, &[1.0, 10.0])
            .unwrap();
        assert_eq!(fit.centers, [1.0, 10.0]);
        for bad in [&[0.0, 0.0][..], &[f64::NAN], &[1.0, 2.0, 3.0, 4.0]] {
            assert!(matches!(
                kmeans(3, 0).fit_anchored(&values, &weights, bad),
                Err(KMeansError::BadFixed { .. })
            ));
        }
        // Values on fixed centres cannot seed free ones.
        assert_eq!(
            kmeans(3, 0).fit_anchored(&[0.0, 1.0], &[1.0, 1.0], &[0.0]),
            Err(KMeansError::TooFewDistinct { k: 3, distinct: 2 })
        );
    }

    #[test]
    fn exactly_k_distinct_values_become_the_centres() {
        let fit = kmeans(3, 0).fit(&[2.0, 1.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(fit.centers, [1.0, 2.0, 3.0]);
        assert_eq!(fit.inertia, 0.0);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let km = kmeans(3, 0);
        assert_eq!(km.fit(&[]), Err(KMeansError::NoData));
        assert_eq!(
            km.fit(&[1.0, 1.0, 2.0, 2.0]),
            Err(KMeansError::TooFewDistinct { k: 3, distinct: 2 })
        );
        let msg = km.fit(&[1.0, 1.0]).unwrap_err().to_string();
        assert!(msg.contains("only 1 distinct values; lower k"), "{msg}");
        assert!(matches!(
            km.fit(&[1.0, f64::NAN]),
            Err(KMeansError::BadInput { index: 1, .. })
        ));
        assert!(matches!(
            km.fit_weighted(&[1.0, 2.0], &[1.0, -1.0]),
            Err(KMeansError::BadInput { index: 1, .. })
        ));
        assert_eq!(
            km.fit_weighted(&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]),
            Err(KMeansError::NoData)
        );
        assert_eq!(
            km.fit_weighted(&[1.0], &[]),
            Err(KMeansError::LengthMismatch {
                values: 1,
                weights: 0
            })
        );
        assert_eq!(
            KMeans::new(KMeansConfig {
                k: 0,
                ..KMeansConfig::default()
            }),
            Err(ConfigError::KMeansK)
        );
        assert!(KMeans::new(KMeansConfig {
            restarts: 0,
            ..KMeansConfig::default()
        })
        .unwrap_err()
        .to_string()
        .contains("restarts must be at least 1"));
    }
}
