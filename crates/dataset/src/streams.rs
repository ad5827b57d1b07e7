//! Sequence batches for training temporal policies with a loss on every frame (slippi-ai's and
//! HAL's recipe): each shard's *runs* (rows whose frame ids increase by exactly one, in one
//! variant: a game with no gaps, or one mirrored or noisy copy of it) are cut into *segments* of
//! at most `segment_frames` rows (after dropping a random `0..unroll` rows from the front of each
//! run, so unroll boundaries move between epochs), the segments are shuffled and dealt to
//! `streams` parallel streams (each to the stream with the fewest unrolls so far), and batch `i`
//! is unroll `i` of every stream.
//!
//! A model carries its state from one batch to the next, stream by stream, and resets a
//! stream's state where [`StreamBatch::reset`] says a new segment starts there. Segments are
//! whole unrolls: a segment's last unroll is padded with rows marked invalid
//! ([`StreamBatch::valid`]), and a stream with nothing left is idle (all invalid, reset). So a
//! state never carries across a game, a gap or a variant seam.
//!
//! With `segment_frames = None`, no crop and no shuffle, every run is one segment from its first
//! row: whole-game evaluation with the state carried from start to end, in shard order.
//!
//! # Batch layout
//!
//! Time-major: with `S` streams and `T` frames per unroll, `features` `[T, S, F]`, `ids`
//! `[T, S, I]`, `targets` `[T, S, 6]`, `valid` and `frame` `[T, S]`, `reset` and `game` `[S]`.
//! Row `t * S + s` is frame `t` of stream `s`, so each step's rows are contiguous.

use crate::loader::{prefetched, Epoch, LoaderError, Produce};
use crate::shard::{Shard, TARGET_COLUMNS};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// How games become streams of unrolls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Parallel streams (rows per step).
    pub streams: usize,
    /// Frames per unroll (steps per batch).
    pub unroll: usize,
    /// Rows per segment, a multiple of `unroll` (`None`: every run is one segment).
    pub segment_frames: Option<usize>,
    /// Drop a random `0..unroll` rows from the front of every run each epoch.
    pub random_crop: bool,
    /// Shuffle the segments (and the crops) by `(seed, epoch)`.
    pub shuffle: bool,
    /// Shuffle seed.
    pub seed: u64,
    /// Keep only rows of these variants (`None`: all; `Some(vec![0])`: the originals).
    pub variants: Option<Vec<u8>>,
    /// Batches prepared ahead on a background thread (0: on the caller's thread).
    pub prefetch: usize,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            streams: 64,
            unroll: 32,
            segment_frames: Some(1024),
            random_crop: true,
            shuffle: true,
            seed: 0,
            variants: None,
            prefetch: 2,
        }
    }
}

impl StreamConfig {
    /// Whole games of the original examples only, each from its first frame to its end with
    /// the state carried, in shard order over `streams` streams of `unroll`-frame steps: how
    /// validation and evaluation step through held-out games.
    pub fn whole_games(streams: usize, unroll: usize) -> StreamConfig {
        StreamConfig {
            streams,
            unroll,
            segment_frames: None,
            random_crop: false,
            shuffle: false,
            seed: 0,
            variants: Some(vec![crate::examples::VARIANT_ORIGINAL]),
            prefetch: 2,
        }
    }

    /// Checks the sizes.
    pub fn validate(&self) -> Result<(), LoaderError> {
        let err = |m: String| Err(LoaderError::Config(m));
        if self.streams == 0 || self.unroll == 0 {
            return err("streams and unroll must be at least 1".into());
        }
        if let Some(s) = self.segment_frames {
            if s == 0 || s % self.unroll != 0 {
                return err(format!(
                    "segment_frames ({s}) must be a positive multiple of unroll ({})",
                    self.unroll
                ));
            }
        }
        Ok(())
    }
}

/// One step of every stream (see the module docs for the layout).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamBatch {
    /// Streams (`S`).
    pub streams: usize,
    /// Frames per unroll (`T`).
    pub unroll: usize,
    /// `[T, S, F]` features.
    pub features: Vec<f32>,
    /// `[T, S, I]` ids.
    pub ids: Vec<u32>,
    /// `[T, S, 6]` target columns.
    pub targets: Vec<u16>,
    /// `[T, S]` whether the row is a real frame (padding and idle streams are not).
    pub valid: Vec<bool>,
    /// `[T, S]` frame id of each valid row (0 elsewhere).
    pub frame: Vec<i32>,
    /// `[S]` whether the stream starts a new segment (reset its state before step 0).
    pub reset: Vec<bool>,
    /// `[S]` shard index of the stream's rows (`u32::MAX` when idle).
    pub game: Vec<u32>,
}

impl StreamBatch {
    /// Valid rows.
    pub fn valid_rows(&self) -> usize {
        self.valid.iter().filter(|&&v| v).count()
    }
}

/// A run: `len` consecutive rows from `start` of one shard.
#[derive(Clone, Copy, Debug)]
struct Run {
    shard: u32,
    start: u32,
    len: u32,
}

/// One unroll of one stream: rows `start..start + len` of a shard (`len <= unroll`, the rest
/// padding), and whether it starts a segment.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    shard: u32,
    start: u32,
    len: u32,
    reset: bool,
    /// The segment it belongs to (its first row and length): what is opened of the shard.
    segment: (u32, u32),
}

/// The runs of a shard's rows, keeping only `variants`.
fn runs_of(shard: &Shard, index: u32, variants: Option<&[u8]>, out: &mut Vec<Run>) {
    let frames = shard.frames();
    let variant = shard.variant();
    let n = shard.len();
    let mut a = 0;
    while a < n {
        let mut b = a + 1;
        while b < n
            && frames[b].checked_sub(frames[b - 1]) == Some(1)
            && variant[b] == variant[b - 1]
        {
            b += 1;
        }
        if variants.is_none_or(|v| v.contains(&variant[a])) {
            out.push(Run {
                shard: index,
                start: a as u32,
                len: (b - a) as u32,
            });
        }
        a = b;
    }
}

/// Sequence batches over a dataset of shards.
pub struct StreamLoader {
    inner: Arc<StreamInner>,
}

struct StreamInner {
    cfg: StreamConfig,
    dirs: Vec<PathBuf>,
    runs: Vec<Run>,
    features: usize,
    ids: usize,
}

impl StreamLoader {
    /// A loader over the shards in `dirs` (in this order). Each shard is opened once to find
    /// its runs, then closed until a stream reaches it, so memory stays bounded by the streams.
    pub fn open(dirs: &[PathBuf], cfg: StreamConfig) -> Result<StreamLoader, LoaderError> {
        cfg.validate()?;
        let mut runs = Vec::new();
        let mut widths: Option<(usize, usize)> = None;
        for (i, dir) in dirs.iter().enumerate() {
            let shard = Shard::open_index(dir)?;
            let w = (shard.feature_width(), shard.id_width());
            match widths {
                None => widths = Some(w),
                Some(first) if first != w => {
                    return Err(LoaderError::Mismatch {
                        path: dir.clone(),
                        reason: format!(
                            "{} features and {} ids, the first shard has {} and {}",
                            w.0, w.1, first.0, first.1
                        ),
                    })
                }
                Some(_) => {}
            }
            runs_of(&shard, i as u32, cfg.variants.as_deref(), &mut runs);
        }
        let (features, ids) = widths.unwrap_or((0, 0));
        Ok(StreamLoader {
            inner: Arc::new(StreamInner {
                cfg,
                dirs: dirs.to_vec(),
                runs,
                features,
                ids,
            }),
        })
    }

    /// The config.
    pub fn config(&self) -> &StreamConfig {
        &self.inner.cfg
    }

    /// The shard directories; [`StreamBatch::game`] indexes this list.
    pub fn shards(&self) -> &[PathBuf] {
        &self.inner.dirs
    }

    /// Rows in all runs (before cropping): the frames an epoch scores at most.
    pub fn rows(&self) -> u64 {
        self.inner.runs.iter().map(|r| u64::from(r.len)).sum()
    }

    /// Batches of epoch `epoch`.
    pub fn batches_in_epoch(&self, epoch: u64) -> usize {
        self.inner
            .plan(epoch)
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
    }

    /// The batches of epoch `epoch` (the same for the same seed and epoch).
    pub fn epoch(&self, epoch: u64) -> Epoch<StreamBatch> {
        prefetched(self.inner.cfg.prefetch, || StreamProducer {
            plan: self.inner.plan(epoch),
            inner: self.inner.clone(),
            step: 0,
            open: HashMap::new(),
            done: false,
        })
    }
}

fn rng_of(seed: u64, epoch: u64) -> StdRng {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..].copy_from_slice(&epoch.to_le_bytes());
    StdRng::seed_from_u64(xxhash_rust::xxh3::xxh3_64(&key))
}

impl StreamInner {
    /// Each stream's unrolls for `epoch`.
    fn plan(&self, epoch: u64) -> Vec<Vec<Chunk>> {
        let cfg = &self.cfg;
        let t = cfg.unroll as u32;
        let mut rng = rng_of(cfg.seed, epoch);
        // Segments as (shard, start, len).
        let mut segments: Vec<Run> = Vec::new();
        for r in &self.runs {
            let crop = if cfg.random_crop && t > 1 {
                rng.gen_range(0..t).min(r.len.saturating_sub(1))
            } else {
                0
            };
            let (start, len) = (r.start + crop, r.len - crop);
            let seg = cfg.segment_frames.map_or(len, |s| s as u32);
            let mut a = 0;
            while a < len {
                let l = seg.min(len - a);
                segments.push(Run {
                    shard: r.shard,
                    start: start + a,
                    len: l,
                });
                a += l;
            }
        }
        if cfg.shuffle {
            segments.shuffle(&mut rng);
        }
        let mut streams: Vec<Vec<Chunk>> = vec![Vec::new(); cfg.streams];
        for s in segments {
            // The stream with the fewest unrolls (the first on ties).
            let j = (0..streams.len())
                .min_by_key(|&j| streams[j].len())
                .unwrap_or(0);
            let mut a = 0;
            while a < s.len {
                let l = t.min(s.len - a);
                streams[j].push(Chunk {
                    shard: s.shard,
                    start: s.start + a,
                    len: l,
                    reset: a == 0,
                    segment: (s.start, s.len),
                });
                a += l;
            }
        }
        streams
    }
}

struct StreamProducer {
    inner: Arc<StreamInner>,
    plan: Vec<Vec<Chunk>>,
    step: usize,
    /// The segments of shards the current step reads, by shard index and segment: only their
    /// blocks are decompressed.
    open: HashMap<(u32, (u32, u32)), Arc<Shard>>,
    done: bool,
}

impl Produce<StreamBatch> for StreamProducer {
    fn next_item(&mut self) -> Option<Result<StreamBatch, LoaderError>> {
        if self.done {
            return None;
        }
        let step = self.step;
        if self.plan.iter().all(|s| s.len() <= step) {
            self.done = true;
            self.open.clear();
            return None;
        }
        self.step += 1;
        let inner = self.inner.clone();
        let (s_n, t_n) = (inner.cfg.streams, inner.cfg.unroll);
        let (nf, ni) = (inner.features, inner.ids);
        let chunks: Vec<Option<Chunk>> = self.plan.iter().map(|s| s.get(step).copied()).collect();
        // Open what this step needs, close what it no longer does.
        let needed: Vec<(u32, (u32, u32))> = chunks
            .iter()
            .flatten()
            .map(|c| (c.shard, c.segment))
            .collect();
        self.open.retain(|k, _| needed.contains(k));
        for &k in &needed {
            if let std::collections::hash_map::Entry::Vacant(e) = self.open.entry(k) {
                let (first, len) = (k.1 .0 as usize, k.1 .1 as usize);
                match Shard::open_rows(&inner.dirs[k.0 as usize], first..first + len) {
                    Ok(s) => {
                        e.insert(Arc::new(s));
                    }
                    Err(err) => {
                        self.done = true;
                        return Some(Err(err.into()));
                    }
                }
            }
        }
        let mut b = StreamBatch {
            streams: s_n,
            unroll: t_n,
            features: vec![0.0; t_n * s_n * nf],
            ids: vec![0; t_n * s_n * ni],
            targets: vec![0; t_n * s_n * TARGET_COLUMNS],
            valid: vec![false; t_n * s_n],
            frame: vec![0; t_n * s_n],
            reset: vec![true; s_n],
            game: vec![u32::MAX; s_n],
        };
        for (s, c) in chunks.iter().enumerate() {
            let Some(c) = c else { continue };
            let Some(shard) = self.open.get(&(c.shard, c.segment)) else {
                // Every needed shard was opened above.
                unreachable!("shard {} is open", c.shard)
            };
            b.reset[s] = c.reset;
            b.game[s] = c.shard;
            let frames = shard.frames();
            for t in 0..c.len as usize {
                let r = c.start as usize + t;
                let row = t * s_n + s;
                shard.features_range_into(r, 1, &mut b.features[row * nf..(row + 1) * nf]);
                b.ids[row * ni..(row + 1) * ni].copy_from_slice(shard.ids_range(r, 1));
                b.targets[row * TARGET_COLUMNS..(row + 1) * TARGET_COLUMNS]
                    .copy_from_slice(shard.targets_range(r, 1));
                b.valid[row] = true;
                b.frame[row] = frames[r];
            }
        }
        Some(Ok(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::{GameExamples, VARIANT_MIRRORED, VARIANT_ORIGINAL};
    use crate::shard::Precision;
    use exphil_embed::Targets;
    use std::path::Path;

    /// A shard whose rows are `(frame, variant)`: the feature is the frame id, the id `tag`.
    fn shard(root: &Path, tag: u32, rows: &[(i32, u8)]) -> PathBuf {
        let dir = root.join(format!("s{tag}"));
        let mut ex = GameExamples::default();
        for &(f, v) in rows {
            ex.push_row(&[f as f32], &[tag], Targets::default(), f, 0, v);
        }
        Shard::write(&dir, &ex, Precision::F32).unwrap();
        dir
    }

    /// Every valid row of an epoch as (shard tag, frame, variant seam check), in stream order,
    /// with the stream it was in; and checks the layout and the reset flags on the way.
    fn walk(loader: &StreamLoader, epoch: u64) -> Vec<Vec<(u32, i32, bool)>> {
        let cfg = loader.config().clone();
        let mut streams: Vec<Vec<(u32, i32, bool)>> = vec![Vec::new(); cfg.streams];
        for b in loader.epoch(epoch) {
            let b = b.unwrap();
            assert_eq!((b.streams, b.unroll), (cfg.streams, cfg.unroll));
            assert_eq!(b.features.len(), cfg.unroll * cfg.streams);
            for s in 0..cfg.streams {
                let mut ended = false;
                for t in 0..cfg.unroll {
                    let r = t * cfg.streams + s;
                    if !b.valid[r] {
                        ended = true;
                        continue;
                    }
                    assert!(!ended, "padding only at the end of a segment's last unroll");
                    assert_eq!(b.features[r], b.frame[r] as f32);
                    assert_eq!(b.ids[r], b.game[s]);
                    streams[s].push((b.ids[r], b.frame[r], t == 0 && b.reset[s]));
                }
            }
        }
        streams
    }

    #[test]
    fn segments_never_cross_a_game_a_gap_or_a_copy_and_cover_every_row_once() {
        let tmp = tempfile::tempdir().unwrap();
        // Game 0: frames 0..100, a gap, 105..150, then the mirrored copy of all of it.
        let mut rows: Vec<(i32, u8)> = (0..100)
            .chain(105..150)
            .map(|f| (f, VARIANT_ORIGINAL))
            .collect();
        let copy: Vec<(i32, u8)> = rows.iter().map(|&(f, _)| (f, VARIANT_MIRRORED)).collect();
        rows.extend(copy);
        let a = shard(tmp.path(), 0, &rows);
        let b = shard(
            tmp.path(),
            1,
            &(0..77).map(|f| (f, VARIANT_ORIGINAL)).collect::<Vec<_>>(),
        );
        let cfg = StreamConfig {
            streams: 3,
            unroll: 8,
            segment_frames: Some(32),
            random_crop: false,
            shuffle: true,
            seed: 5,
            variants: None,
            prefetch: 0,
        };
        let loader = StreamLoader::open(&[a.clone(), b.clone()], cfg.clone()).unwrap();
        assert_eq!(loader.rows(), (145 * 2 + 77) as u64);
        let streams = walk(&loader, 0);
        let mut seen: Vec<(u32, i32, bool)> = Vec::new();
        for s in &streams {
            // Within a stream, consecutive rows continue one run (frame + 1, same shard)
            // unless a segment starts (flagged reset) there.
            for w in s.windows(2) {
                let (prev, next) = (w[0], w[1]);
                if !next.2 {
                    assert_eq!(
                        (next.0, next.1),
                        (prev.0, prev.1 + 1),
                        "{prev:?} -> {next:?}"
                    );
                }
            }
            // Segments are at most 32 rows.
            let mut len = 0;
            for r in s {
                len = if r.2 { 1 } else { len + 1 };
                assert!(len <= 32);
            }
            seen.extend(s.iter().copied());
        }
        // Every row exactly once: the two variants of game 0 give each frame twice.
        assert_eq!(seen.len(), 145 * 2 + 77);
        let mut count = std::collections::BTreeMap::new();
        for (tag, f, _) in &seen {
            *count.entry((*tag, *f)).or_insert(0) += 1;
        }
        assert!(count
            .iter()
            .all(|(&(tag, _), &c)| c == if tag == 0 { 2 } else { 1 }));
        // The gap and the copy start segments: frame 105 and the copy's frame 0 follow a reset.
        for s in &streams {
            for (i, r) in s.iter().enumerate() {
                if r.0 == 0 && (r.1 == 105 || r.1 == 0) {
                    assert!(r.2, "a run start must reset (row {i} of a stream: {r:?})");
                }
            }
        }
        // The same seed and epoch give the same batches; another epoch shuffles anew.
        assert_eq!(walk(&loader, 0), streams);
        assert_ne!(walk(&loader, 1), streams);
    }

    #[test]
    fn whole_games_from_their_first_frame_without_crop_or_shuffle() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(
            tmp.path(),
            0,
            &(-10..50).map(|f| (f, VARIANT_ORIGINAL)).collect::<Vec<_>>(),
        );
        let b = shard(
            tmp.path(),
            1,
            &(0..30)
                .map(|f| (f, VARIANT_ORIGINAL))
                .chain((0..30).map(|f| (f, VARIANT_MIRRORED)))
                .collect::<Vec<_>>(),
        );
        let loader = StreamLoader::open(&[a, b], StreamConfig::whole_games(2, 16)).unwrap();
        let streams = walk(&loader, 0);
        // Each game is one segment from its first frame, in order; the copy is left out.
        assert_eq!(
            streams[0].iter().map(|r| r.1).collect::<Vec<_>>(),
            (-10..50).collect::<Vec<_>>()
        );
        assert_eq!(
            streams[1].iter().map(|r| r.1).collect::<Vec<_>>(),
            (0..30).collect::<Vec<_>>()
        );
        assert!(streams
            .iter()
            .all(|s| s[0].2 && s[1..].iter().all(|r| !r.2)));
        assert_eq!(loader.batches_in_epoch(0), 4);
    }

    #[test]
    fn random_crops_move_the_unroll_boundaries_between_epochs() {
        let tmp = tempfile::tempdir().unwrap();
        let a = shard(
            tmp.path(),
            0,
            &(0..200).map(|f| (f, VARIANT_ORIGINAL)).collect::<Vec<_>>(),
        );
        let cfg = StreamConfig {
            streams: 1,
            unroll: 8,
            segment_frames: Some(64),
            random_crop: true,
            shuffle: false,
            seed: 1,
            variants: None,
            prefetch: 0,
        };
        let loader = StreamLoader::open(&[a], cfg).unwrap();
        let firsts: Vec<i32> = (0..6).map(|e| walk(&loader, e)[0][0].1).collect();
        assert!(firsts.iter().all(|&f| (0..8).contains(&f)), "{firsts:?}");
        assert!(
            firsts.windows(2).any(|w| w[0] != w[1]),
            "the crop changes: {firsts:?}"
        );
        assert!(StreamConfig {
            segment_frames: Some(60),
            ..StreamConfig::default()
        }
        .validate()
        .is_err());
    }
}
