//! The trainer's data loader: minibatches of single frames or of windows of consecutive frames
//! from many shards (one shard = one game seen by one player), shuffled deterministically for a
//! seed, optionally restricted to one side of the whole-game split, prepared ahead on a
//! background thread.
//!
//! # Units and epochs
//!
//! A *unit* is one example (`window = None`) or one window of `window` consecutive rows of one
//! shard (`window = Some(w)`), starting every `stride` rows (default `w`: non-overlapping).
//! Windows lie inside a *segment*: a run of rows whose frame ids increase by exactly one and whose
//! variant (original, mirrored, noisy copy `c`) is the same, so a window never crosses a game
//! (shard), a gap left by a dropped frame, or the seam between the original and an augmented
//! copy. An epoch yields every unit of the
//! selected shards exactly once; the order depends only on `(seed, epoch)`.
//!
//! # Memory
//!
//! Shards are memory-mapped, so the operating system pages features in on demand and may evict
//! them. With `streaming = false` every shard stays mapped and an epoch is one global shuffle of
//! all units (8 bytes of plan per unit). With `streaming = true` at most `max_open_shards` shards
//! are mapped at a time: the epoch visits the shards in a shuffled order, `max_open_shards` at a
//! time, shuffling units within each group (a shuffle buffer of whole games), so memory stays
//! bounded however large the dataset.
//!
//! # Batch layout
//!
//! With `b` units and window `w` (1 for frames): `features` `[b, w, F]`, `ids` `[b, w, I]`,
//! `targets` `[b, w, 6]` (buttons bitmask, main_x, main_y, c_x, c_y, shoulder), `frame` `[b, w]`,
//! `game` `[b]` (the shard's index in [`Loader::shards`]). All row-major. The last batch of an
//! epoch may be short unless `drop_last`.

use crate::shard::{Shard, ShardError, ShardInfo, TARGET_COLUMNS};
use crate::split::{split_games, Split};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Loader settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderConfig {
    /// Units per batch.
    pub batch_size: usize,
    /// Frames per window; `None` for single frames.
    pub window: Option<usize>,
    /// Rows between window starts; `None` means the window length.
    pub stride: Option<usize>,
    /// Shuffle units (and, when streaming, the shard order).
    pub shuffle: bool,
    /// Shuffle seed (combined with the epoch number).
    pub seed: u64,
    /// Keep only the games on this side of the split; `None` keeps all.
    pub split: Option<Split>,
    /// Fraction of games held out for validation.
    pub validation_fraction: f64,
    /// Seed of the split (independent of the shuffle seed).
    pub split_seed: u64,
    /// Batches prepared ahead on a background thread; 0 prepares them on the caller's thread.
    pub prefetch: usize,
    /// Keep at most `max_open_shards` shards mapped at a time.
    pub streaming: bool,
    /// Copy a batch's rows on the rayon thread pool (the batches are identical either way).
    pub parallel: bool,
    /// Shards mapped at once when streaming.
    pub max_open_shards: usize,
    /// Leave out the last, short batch of an epoch.
    pub drop_last: bool,
    /// Keep only units of these variants (`None`: all; `Some(vec![0])`: the originals, as
    /// validation does).
    pub variants: Option<Vec<u8>>,
}

impl Default for LoaderConfig {
    fn default() -> LoaderConfig {
        LoaderConfig {
            batch_size: 256,
            window: None,
            stride: None,
            shuffle: true,
            seed: 0,
            split: None,
            validation_fraction: 0.1,
            split_seed: 0,
            prefetch: 4,
            streaming: false,
            parallel: true,
            max_open_shards: 64,
            drop_last: false,
            variants: None,
        }
    }
}

impl LoaderConfig {
    /// Checks sizes and the fraction.
    pub fn validate(&self) -> Result<(), LoaderError> {
        let err = |m: &str| Err(LoaderError::Config(m.into()));
        if self.batch_size == 0 {
            return err("batch size must be at least 1");
        }
        if self.window == Some(0) {
            return err("window must be at least 1 frame");
        }
        if self.stride == Some(0) {
            return err("stride must be at least 1 row");
        }
        if !(0.0..=1.0).contains(&self.validation_fraction) {
            return err("validation fraction must be within 0..=1");
        }
        if self.max_open_shards == 0 {
            return err("max_open_shards must be at least 1");
        }
        Ok(())
    }

    fn window_len(&self) -> usize {
        self.window.unwrap_or(1)
    }
}

/// A loader that cannot be built or an epoch that cannot continue.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// Invalid [`LoaderConfig`].
    #[error("invalid loader config: {0}")]
    Config(String),
    /// A shard could not be opened.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// A split was asked for but a shard has no source hash to split by.
    #[error("{}: shard has no source hash, so its game cannot be assigned to a split", path.display())]
    NoSource {
        /// The shard directory.
        path: PathBuf,
    },
    /// Shards of one dataset disagree on feature or id widths.
    #[error("{}: {reason}", path.display())]
    Mismatch {
        /// The shard directory.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
}

/// One minibatch (see the module docs for the layout).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Units in the batch (`b`).
    pub len: usize,
    /// Frames per unit (`w`).
    pub window: usize,
    /// `[b, w, F]` features.
    pub features: Vec<f32>,
    /// `[b, w, I]` ids.
    pub ids: Vec<u32>,
    /// `[b, w, 6]` target columns.
    pub targets: Vec<u16>,
    /// `[b]` shard index of each unit.
    pub game: Vec<u32>,
    /// `[b, w]` frame id of each row.
    pub frame: Vec<i32>,
}

struct Entry {
    dir: PathBuf,
    info: ShardInfo,
    /// Kept mapped (not streaming).
    shard: Option<Arc<Shard>>,
    /// Unit start rows (not streaming).
    starts: Option<Arc<Vec<u32>>>,
    units: usize,
}

struct Inner {
    cfg: LoaderConfig,
    entries: Vec<Entry>,
    features: usize,
    ids: usize,
}

/// Minibatches over a dataset of shards.
pub struct Loader {
    inner: Arc<Inner>,
}

/// The start rows of `shard`'s units for a window and stride.
pub fn unit_starts(shard: &Shard, window: Option<usize>, stride: Option<usize>) -> Vec<u32> {
    let n = shard.len();
    let Some(w) = window else {
        let step = stride.unwrap_or(1).max(1);
        return (0..n).step_by(step).map(|r| r as u32).collect();
    };
    let w = w.max(1);
    let step = stride.unwrap_or(w).max(1);
    let frames = shard.frames();
    let variant = shard.variant();
    let mut out = Vec::new();
    let mut a = 0;
    while a < n {
        let mut b = a + 1;
        while b < n
            && frames[b].checked_sub(frames[b - 1]) == Some(1)
            && variant[b] == variant[b - 1]
        {
            b += 1;
        }
        let mut s = a;
        while s + w <= b {
            out.push(s as u32);
            s += step;
        }
        a = b;
    }
    out
}

/// The start rows of `shard`'s units for a loader config: [`unit_starts`], keeping only the
/// config's variants.
fn units_of(shard: &Shard, cfg: &LoaderConfig) -> Vec<u32> {
    let mut starts = unit_starts(shard, cfg.window, cfg.stride);
    if let Some(keep) = &cfg.variants {
        let variant = shard.variant();
        starts.retain(|&r| keep.contains(&variant[r as usize]));
    }
    starts
}

/// Which shards (in order) are on `cfg.split`'s side (`None`: no split, all of them), from their
/// source hashes by [`split_games`] over every game of `infos` (both perspectives of a game
/// share their source). A shard without a source cannot be placed safely, so it is an error
/// rather than a guess.
fn kept_by_split(
    infos: &[(&Path, &ShardInfo)],
    cfg: &LoaderConfig,
) -> Result<Option<Vec<bool>>, LoaderError> {
    let Some(side) = cfg.split else {
        return Ok(None);
    };
    if let Some((dir, _)) = infos.iter().find(|(_, i)| i.source.is_empty()) {
        return Err(LoaderError::NoSource {
            path: dir.to_path_buf(),
        });
    }
    let keys: Vec<&str> = infos.iter().map(|(_, i)| i.source.as_str()).collect();
    let sides = split_games(&keys, cfg.split_seed, cfg.validation_fraction);
    Ok(Some(sides.into_iter().map(|s| s == side).collect()))
}

impl Loader {
    /// A loader over the shards in `dirs` (in this order), keeping those on `cfg.split`'s side.
    /// Every shard is opened once to check it and count its units; when streaming it is closed
    /// again until its turn.
    pub fn open(dirs: &[PathBuf], cfg: LoaderConfig) -> Result<Loader, LoaderError> {
        cfg.validate()?;
        // The split needs every game first: the shards' descriptions, read once.
        let keep = match cfg.split {
            Some(_) => {
                let infos = dirs
                    .iter()
                    .map(|d| Ok((d.as_path(), Shard::read_info(d)?)))
                    .collect::<Result<Vec<_>, LoaderError>>()?;
                let refs: Vec<(&Path, &ShardInfo)> = infos.iter().map(|(d, i)| (*d, i)).collect();
                kept_by_split(&refs, &cfg)?
            }
            None => None,
        };
        let mut entries = Vec::new();
        for (k, dir) in dirs.iter().enumerate() {
            if keep.as_ref().is_some_and(|keep| !keep[k]) {
                continue;
            }
            // Streaming opens a shard fully only when its turn comes.
            let shard = if cfg.streaming {
                Shard::open_index(dir)?
            } else {
                Shard::open(dir)?
            };
            let info = shard.info().clone();
            let starts = units_of(&shard, &cfg);
            let units = starts.len();
            let (shard, starts) = if cfg.streaming {
                (None, None)
            } else {
                (Some(Arc::new(shard)), Some(Arc::new(starts)))
            };
            entries.push(Entry {
                dir: dir.clone(),
                info,
                shard,
                starts,
                units,
            });
        }
        Self::build(entries, cfg)
    }

    /// A loader over shards already opened (they stay mapped: `streaming` is ignored).
    pub fn from_shards(shards: Vec<Shard>, cfg: LoaderConfig) -> Result<Loader, LoaderError> {
        cfg.validate()?;
        let refs: Vec<(&Path, &ShardInfo)> = shards.iter().map(|s| (s.dir(), s.info())).collect();
        let keep = kept_by_split(&refs, &cfg)?;
        let mut entries = Vec::new();
        for (k, shard) in shards.into_iter().enumerate() {
            if keep.as_ref().is_some_and(|keep| !keep[k]) {
                continue;
            }
            let dir = shard.dir().to_owned();
            let info = shard.info().clone();
            let starts = units_of(&shard, &cfg);
            entries.push(Entry {
                dir,
                info,
                units: starts.len(),
                shard: Some(Arc::new(shard)),
                starts: Some(Arc::new(starts)),
            });
        }
        let cfg = LoaderConfig {
            streaming: false,
            ..cfg
        };
        Self::build(entries, cfg)
    }

    fn build(entries: Vec<Entry>, cfg: LoaderConfig) -> Result<Loader, LoaderError> {
        let (features, ids) = entries
            .first()
            .map_or((0, 0), |e| (e.info.features, e.info.ids));
        for e in &entries {
            if (e.info.features, e.info.ids) != (features, ids) {
                return Err(LoaderError::Mismatch {
                    path: e.dir.clone(),
                    reason: format!(
                        "{} features and {} ids, the first shard has {features} and {ids}",
                        e.info.features, e.info.ids
                    ),
                });
            }
        }
        Ok(Loader {
            inner: Arc::new(Inner {
                cfg,
                entries,
                features,
                ids,
            }),
        })
    }

    /// The config.
    pub fn config(&self) -> &LoaderConfig {
        &self.inner.cfg
    }

    /// The selected shards' directories; `Batch::game` indexes this list.
    pub fn shards(&self) -> Vec<&Path> {
        self.inner.entries.iter().map(|e| e.dir.as_path()).collect()
    }

    /// Features per row.
    pub fn feature_width(&self) -> usize {
        self.inner.features
    }

    /// Ids per row.
    pub fn id_width(&self) -> usize {
        self.inner.ids
    }

    /// Units (examples or windows) per epoch.
    pub fn len(&self) -> usize {
        self.inner.entries.iter().map(|e| e.units).sum()
    }

    /// Whether an epoch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.len(), self.inner.cfg.batch_size);
        if self.inner.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The batches of epoch `epoch` (its order depends only on the seed and `epoch`).
    pub fn epoch(&self, epoch: u64) -> Epoch {
        prefetched(self.inner.cfg.prefetch, || {
            Producer::new(self.inner.clone(), epoch)
        })
    }
}

/// What prepares an epoch's items one by one (on the prefetch thread, or the caller's).
pub(crate) trait Produce<T>: Send {
    /// The next item, `None` at the end of the epoch.
    fn next_item(&mut self) -> Option<Result<T, LoaderError>>;
}

/// An epoch whose items a producer from `make` prepares `depth` ahead on a background thread
/// (or on the caller's thread when `depth` is 0 or no thread can be started).
pub(crate) fn prefetched<T: Send + 'static, P: Produce<T> + 'static>(
    depth: usize,
    make: impl Fn() -> P,
) -> Epoch<T> {
    let on_caller = |p: P| Epoch {
        sync: Some(Box::new(p) as Box<dyn Produce<T>>),
        rx: None,
        handle: None,
    };
    if depth == 0 {
        return on_caller(make());
    }
    let (tx, rx) = sync_channel(depth);
    let mut producer = make();
    let handle = std::thread::Builder::new()
        .name("exphil-loader".into())
        .spawn(move || {
            while let Some(b) = producer.next_item() {
                if tx.send(b).is_err() {
                    return; // the epoch was dropped
                }
            }
        });
    match handle {
        Ok(h) => Epoch {
            sync: None,
            rx: Some(rx),
            handle: Some(h),
        },
        // No thread could be started: prepare items on the caller's thread instead.
        Err(_) => on_caller(make()),
    }
}

/// The items (by default [`Batch`]es) of one epoch. Dropping it stops the prefetch thread and
/// waits for it.
pub struct Epoch<T = Batch> {
    sync: Option<Box<dyn Produce<T>>>,
    rx: Option<Receiver<Result<T, LoaderError>>>,
    handle: Option<JoinHandle<()>>,
}

impl<T> Iterator for Epoch<T> {
    type Item = Result<T, LoaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(p) = &mut self.sync {
            return p.next_item();
        }
        self.rx.as_ref()?.recv().ok()
    }
}

impl<T> Drop for Epoch<T> {
    fn drop(&mut self) {
        // Disconnecting the channel wakes a producer blocked in `send`, which then returns.
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A batch unit: shard index, shard, start row.
type Unit = (u32, Arc<Shard>, usize);
/// One unit's slices of a batch: features, ids, targets, frames.
type RowSlices<'a> = (&'a mut [f32], &'a mut [u32], &'a mut [u16], &'a mut [i32]);

struct Producer {
    inner: Arc<Inner>,
    rng: StdRng,
    groups: VecDeque<Vec<u32>>,
    /// The current group's shards, by shard index (`None` outside the group).
    open: Vec<Option<Arc<Shard>>>,
    items: Vec<(u32, u32)>,
    pos: usize,
    done: bool,
}

impl Producer {
    fn new(inner: Arc<Inner>, epoch: u64) -> Producer {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&inner.cfg.seed.to_le_bytes());
        key[8..].copy_from_slice(&epoch.to_le_bytes());
        let mut rng = StdRng::seed_from_u64(xxhash_rust::xxh3::xxh3_64(&key));
        let n_shards = inner.entries.len();
        let mut order: Vec<u32> = (0..n_shards as u32).collect();
        let groups = if inner.cfg.streaming {
            if inner.cfg.shuffle {
                order.shuffle(&mut rng);
            }
            order
                .chunks(inner.cfg.max_open_shards)
                .map(<[u32]>::to_vec)
                .collect()
        } else {
            VecDeque::from([order])
        };
        Producer {
            inner,
            rng,
            groups,
            open: vec![None; n_shards],
            items: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    fn load_group(&mut self, group: Vec<u32>) -> Result<(), LoaderError> {
        self.open.iter_mut().for_each(|o| *o = None);
        self.items.clear();
        self.pos = 0;
        let cfg = &self.inner.cfg;
        for s in group {
            let e = &self.inner.entries[s as usize];
            let (shard, starts) = match (&e.shard, &e.starts) {
                (Some(sh), Some(st)) => (sh.clone(), st.clone()),
                _ => {
                    let sh = Shard::open(&e.dir)?;
                    let st = units_of(&sh, cfg);
                    if st.len() != e.units {
                        return Err(LoaderError::Mismatch {
                            path: e.dir.clone(),
                            reason: format!(
                                "shard changed since the loader opened it ({} units, was {})",
                                st.len(),
                                e.units
                            ),
                        });
                    }
                    (Arc::new(sh), Arc::new(st))
                }
            };
            self.items.extend(starts.iter().map(|&r| (s, r)));
            self.open[s as usize] = Some(shard);
        }
        if cfg.shuffle {
            self.items.shuffle(&mut self.rng);
        }
        Ok(())
    }
}

impl Produce<Batch> for Producer {
    fn next_item(&mut self) -> Option<Result<Batch, LoaderError>> {
        if self.done {
            return None;
        }
        let inner = self.inner.clone();
        let cfg = &inner.cfg;
        let (bs, w) = (cfg.batch_size, cfg.window_len());
        let (nf, ni) = (inner.features, inner.ids);
        // Pick the batch's units first (loading groups as needed; a batch may span two groups, so
        // each unit holds its own handle on its shard).
        let mut units: Vec<Unit> = Vec::with_capacity(bs);
        while units.len() < bs {
            if self.pos == self.items.len() {
                let Some(g) = self.groups.pop_front() else {
                    break;
                };
                if let Err(e) = self.load_group(g) {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            let (s, start) = self.items[self.pos];
            self.pos += 1;
            let Some(shard) = &self.open[s as usize] else {
                // `load_group` opened every shard of the group whose items these are.
                unreachable!("shard {s} of the current group is open")
            };
            units.push((s, shard.clone(), start as usize));
        }
        let len = units.len();
        if len == 0 || (cfg.drop_last && len < bs) {
            self.done = true;
            self.open.iter_mut().for_each(|o| *o = None);
            return None;
        }
        let mut b = Batch {
            len,
            window: w,
            features: vec![0.0; len * w * nf],
            ids: vec![0; len * w * ni],
            targets: vec![0; len * w * TARGET_COLUMNS],
            game: units.iter().map(|u| u.0).collect(),
            frame: vec![0; len * w],
        };
        // Each unit's slices of the batch, then the copies (in parallel when asked: the result
        // is the same either way).
        let mut parts = Vec::with_capacity(len);
        let (mut f, mut i, mut t, mut fr) = (
            &mut b.features[..],
            &mut b.ids[..],
            &mut b.targets[..],
            &mut b.frame[..],
        );
        for _ in 0..len {
            let (f0, f1) = f.split_at_mut(w * nf);
            let (i0, i1) = i.split_at_mut(w * ni);
            let (t0, t1) = t.split_at_mut(w * TARGET_COLUMNS);
            let (r0, r1) = fr.split_at_mut(w);
            parts.push((f0, i0, t0, r0));
            (f, i, t, fr) = (f1, i1, t1, r1);
        }
        let fill = |((f, i, t, fr), (_, shard, start)): (RowSlices<'_>, &Unit)| {
            let start = *start;
            shard.features_range_into(start, w, f);
            i.copy_from_slice(shard.ids_range(start, w));
            t.copy_from_slice(shard.targets_range(start, w));
            fr.copy_from_slice(&shard.frames()[start..start + w]);
        };
        if cfg.parallel {
            use rayon::prelude::*;
            parts.into_par_iter().zip(units.par_iter()).for_each(fill);
        } else {
            parts.into_iter().zip(units.iter()).for_each(fill);
        }
        Some(Ok(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert!(LoaderConfig::default().validate().is_ok());
        for c in [
            LoaderConfig {
                batch_size: 0,
                ..Default::default()
            },
            LoaderConfig {
                window: Some(0),
                ..Default::default()
            },
            LoaderConfig {
                stride: Some(0),
                ..Default::default()
            },
            LoaderConfig {
                validation_fraction: 1.5,
                ..Default::default()
            },
            LoaderConfig {
                max_open_shards: 0,
                ..Default::default()
            },
        ] {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
