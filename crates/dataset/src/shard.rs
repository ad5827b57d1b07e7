//! The training-ready feature store: one directory of arrays per game and perspective (a
//! *shard*), compressed (the default) or as memory-mappable `.npy` files, both open formats that
//! NumPy reads without exphil.
//!
//! # Layout of a shard directory
//!
//! The arrays are one zstd frame each in `arrays.zst` ([`Compression::Zstd`]: each array
//! byte-shuffled and compressed, see [`crate::packed`]; `shard.json` lists the frames' sizes;
//! decompressed into memory when the shard is opened), or `<name>.npy` files
//! ([`Compression::None`]: mapped as they are).
//!
//! | array | dtype | shape | holds |
//! | --- | --- | --- | --- |
//! | `features` | `<f4` or `<f2` ([`Precision`]) | `[n, F]` | embedded features |
//! | `ids` | `<u4` | `[n, I]` | integer ids (action, character, stage, …) |
//! | `targets` | `<u2` | `[n, 6]` | buttons bitmask, main_x, main_y, c_x, c_y, shoulder classes |
//! | `frames` | `<i4` | `[n]` | frame id `t` of each example's target |
//! | `delays` | `|u1` | `[n]` | delay (the state is from `t − delay`) |
//! | `variant` | `|u1` | `[n]` | 0 original, 1 mirrored copy, `2 + c` noisy copy `c + 1` |
//! | `shard.json` | | | [`ShardInfo`]: `n`, widths, precision, port, source hash |
//!
//! Every `.npy` is NumPy format 1.0, little-endian, C order, data 64-byte aligned (see
//! [`crate::npy`]). Rows are in the order of [`GameExamples`](crate::GameExamples): originals by
//! frame, then mirrored copies, then noisy copies (copy 1, copy 2, …). A shard is written into a temporary sibling directory and
//! renamed into place, so a crash never leaves a half-written shard under the final name.

use crate::examples::GameExamples;
use crate::npy::{self, Dtype, Npy, NpyError};
use crate::packed::Aligned;
use exphil_embed::Targets;
use exphil_state::Buttons;
use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Version of the shard layout, stored in `shard.json` (3: compressed arrays; version 2 shards,
/// all `.npy`, are still read).
pub const SHARD_FORMAT_VERSION: u32 = 3;

/// The oldest shard layout this build reads.
pub const OLDEST_SHARD_FORMAT: u32 = 2;

/// How a shard's arrays are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `.npy` files, memory-mapped (about 3.5× the `.slp` bytes in f32).
    None,
    /// Byte-shuffled zstd (`.zst`, [`crate::packed`]; about 0.21× the `.slp` bytes in f32),
    /// decompressed into memory when a shard is opened.
    #[default]
    Zstd,
}

pub use exphil_embed::TARGET_COLUMNS;

/// Storage precision of the features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (`<f4`), exact.
    #[default]
    F32,
    /// 16-bit floats (`<f2`), half the size; relative error ≤ 2⁻¹¹ within f16 range.
    F16,
}

/// What `shard.json` records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// [`SHARD_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Examples (rows).
    pub n: usize,
    /// Features per example.
    pub features: usize,
    /// Ids per example.
    pub ids: usize,
    /// Feature precision.
    pub precision: Precision,
    /// Port of the learning player (1–4).
    pub port: u8,
    /// Content hash of the source replay (empty when unknown).
    pub source: String,
    /// How many rows are mirrored copies.
    pub mirrored: usize,
    /// How many rows are noisy copies.
    #[serde(default)]
    pub noisy: usize,
    /// Bytes of the shard on disk (all files).
    pub bytes: u64,
    /// How the arrays are stored (absent in version 2: `.npy`).
    #[serde(default = "no_compression")]
    pub compression: Compression,
    /// Compressed shards: per array, in [`ARRAYS`] order, the bytes of its blocks' zstd frames
    /// in `arrays.zst` (block `k` holds rows `k·BLOCK_ROWS..`; the frames follow one another).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packed: Vec<Vec<u64>>,
}

impl ShardInfo {
    /// The bytes of its arrays when open: decompressed into memory (compressed shards) or
    /// resident once an epoch has read them all (mapped `.npy`).
    pub fn open_bytes(&self) -> u64 {
        let feature = match self.precision {
            Precision::F32 => 4,
            Precision::F16 => 2,
        };
        let row = self.features * feature + self.ids * 4 + TARGET_COLUMNS * 2 + 4 + 1 + 1;
        (self.n * row) as u64
    }
}

fn no_compression() -> Compression {
    Compression::None
}

/// A shard that cannot be written or opened.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An array file is malformed.
    #[error(transparent)]
    Npy(#[from] NpyError),
    /// `shard.json` is unreadable or inconsistent.
    #[error("{}: {reason}", path.display())]
    Info {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An array does not have the dtype or shape `shard.json` promises.
    #[error("{}: {reason}", path.display())]
    Mismatch {
        /// The array file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The examples to write are inconsistent (column lengths differ).
    #[error("inconsistent examples: {0}")]
    Examples(String),
}

/// Result alias of this module.
pub type Result<T, E = ShardError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ShardError + '_ {
    move |source| ShardError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A target row as the six stored columns.
pub fn target_row(t: &Targets) -> [u16; TARGET_COLUMNS] {
    [
        t.buttons.0 as u16,
        t.main_x,
        t.main_y,
        t.c_x,
        t.c_y,
        t.shoulder,
    ]
}

/// The targets of six stored columns (extra button bits are dropped).
pub fn targets_of(row: &[u16]) -> Targets {
    let g = |i: usize| row.get(i).copied().unwrap_or(0);
    Targets {
        buttons: Buttons(g(0) as u8),
        main_x: g(1),
        main_y: g(2),
        c_x: g(3),
        c_y: g(4),
        shoulder: g(5),
    }
}

fn le_bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * N);
    for &x in v {
        out.extend_from_slice(&f(x));
    }
    out
}

/// A unique temporary sibling of `dir` (same filesystem, so the final rename is atomic).
fn temp_sibling(dir: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = dir
        .file_name()
        .map_or_else(|| "shard".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!(
        ".{name}.tmp-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// One array of an opened shard: mapped from its `.npy` file, or decompressed into memory.
#[derive(Debug)]
enum Store {
    Mapped(Npy),
    Owned(Aligned),
}

impl Store {
    fn bytes(&self) -> &[u8] {
        match self {
            Store::Mapped(a) => a.bytes(),
            Store::Owned(a) => a.bytes(),
        }
    }
}

/// An opened shard: its arrays mapped (`.npy`) or decompressed (`.zst`).
#[derive(Debug)]
pub struct Shard {
    dir: PathBuf,
    info: ShardInfo,
    /// The first row the features, ids and targets hold (0 unless opened for a row range).
    first: usize,
    features: Store,
    ids: Store,
    targets: Store,
    frames: Store,
    delays: Store,
    variant: Store,
}

/// One array to write: its name (no extension), element type, shape and bytes.
type ArrayOut = (&'static str, Dtype, Vec<usize>, Vec<u8>);

impl Shard {
    /// Writes `ex` as a compressed shard at `dir` (replacing any shard there), through a
    /// temporary sibling directory renamed into place.
    pub fn write(dir: &Path, ex: &GameExamples, precision: Precision) -> Result<ShardInfo> {
        Self::write_as(dir, ex, precision, Compression::Zstd)
    }

    /// [`Shard::write`] with the arrays stored as `compression` says.
    pub fn write_as(
        dir: &Path,
        ex: &GameExamples,
        precision: Precision,
        compression: Compression,
    ) -> Result<ShardInfo> {
        let n = ex.len();
        let check = |what: &str, len: usize| {
            if len == n {
                Ok(())
            } else {
                Err(ShardError::Examples(format!(
                    "{what} has {len} rows, frame_ids has {n}"
                )))
            }
        };
        check("delays", ex.delays.len())?;
        check("targets", ex.targets.len())?;
        check("variant", ex.variant.len())?;
        let nf = ex.features.len().checked_div(n).unwrap_or(0);
        let ni = ex.ids.len().checked_div(n).unwrap_or(0);
        if nf * n != ex.features.len() || ni * n != ex.ids.len() {
            return Err(ShardError::Examples(format!(
                "{} features and {} ids do not split into {n} rows",
                ex.features.len(),
                ex.ids.len()
            )));
        }
        let tmp = temp_sibling(dir);
        let result =
            Self::write_into(&tmp, ex, precision, compression, n, nf, ni).and_then(|info| {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
                }
                std::fs::rename(&tmp, dir).map_err(io_err(dir))?;
                Ok(info)
            });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// The arrays of `ex`, in [`ARRAYS`] order.
    fn arrays(
        ex: &GameExamples,
        precision: Precision,
        n: usize,
        nf: usize,
        ni: usize,
    ) -> Vec<ArrayOut> {
        let (fdt, feats) = match precision {
            Precision::F32 => (Dtype::F32, le_bytes(&ex.features, f32::to_le_bytes)),
            Precision::F16 => {
                let mut h = vec![f16::ZERO; ex.features.len()];
                h.convert_from_f32_slice(&ex.features);
                (Dtype::F16, le_bytes(&h, |x| x.to_bits().to_le_bytes()))
            }
        };
        let t: Vec<u16> = ex.targets.iter().flat_map(target_row).collect();
        vec![
            ("features", fdt, vec![n, nf], feats),
            (
                "ids",
                Dtype::U32,
                vec![n, ni],
                le_bytes(&ex.ids, u32::to_le_bytes),
            ),
            (
                "targets",
                Dtype::U16,
                vec![n, TARGET_COLUMNS],
                le_bytes(&t, u16::to_le_bytes),
            ),
            (
                "frames",
                Dtype::I32,
                vec![n],
                le_bytes(&ex.frame_ids, i32::to_le_bytes),
            ),
            ("delays", Dtype::U8, vec![n], ex.delays.clone()),
            ("variant", Dtype::U8, vec![n], ex.variant.clone()),
        ]
    }

    fn write_into(
        tmp: &Path,
        ex: &GameExamples,
        precision: Precision,
        compression: Compression,
        n: usize,
        nf: usize,
        ni: usize,
    ) -> Result<ShardInfo> {
        std::fs::create_dir_all(tmp).map_err(io_err(tmp))?;
        let mut bytes = 0;
        let mut packed_sizes = Vec::new();
        let mut packed_file = Vec::new();
        for (name, dtype, shape, data) in Self::arrays(ex, precision, n, nf, ni) {
            match compression {
                Compression::None => {
                    let p = tmp.join(format!("{name}.npy"));
                    npy::write(&p, dtype, &shape, &data)?;
                    bytes += std::fs::metadata(&p).map_err(io_err(&p))?.len();
                }
                Compression::Zstd => {
                    let cols = shape.get(1).copied().unwrap_or(1);
                    let row = cols * dtype.size();
                    let mut sizes = Vec::new();
                    for a in (0..n).step_by(BLOCK_ROWS) {
                        let b = (a + BLOCK_ROWS).min(n);
                        let frame =
                            crate::packed::pack(&data[a * row..b * row], b - a, cols, dtype.size())
                                .map_err(io_err(&tmp.join(PACKED_FILE)))?;
                        sizes.push(frame.len() as u64);
                        packed_file.extend_from_slice(&frame);
                    }
                    packed_sizes.push(sizes);
                }
            }
        }
        if compression == Compression::Zstd {
            let p = tmp.join(PACKED_FILE);
            std::fs::write(&p, &packed_file).map_err(io_err(&p))?;
            bytes += packed_file.len() as u64;
        }
        let mut info = ShardInfo {
            format_version: SHARD_FORMAT_VERSION,
            n,
            features: nf,
            ids: ni,
            precision,
            port: ex.port,
            source: ex.source.clone(),
            mirrored: ex.mirrored(),
            noisy: ex.noisy(),
            bytes,
            compression,
            packed: packed_sizes,
        };
        // The JSON's own size is counted with a fixed point: its length barely depends on `bytes`.
        let p = tmp.join("shard.json");
        for _ in 0..3 {
            let json = serde_json::to_vec_pretty(&info).map_err(|e| ShardError::Info {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            info.bytes = bytes + json.len() as u64;
            std::fs::write(&p, &json).map_err(io_err(&p))?;
        }
        Ok(info)
    }

    /// Opens the shard at `dir`: reads `shard.json`, maps or decompresses every array and checks
    /// dtypes and shapes against it (an error names the file).
    pub fn open(dir: &Path) -> Result<Shard> {
        Self::open_parts(dir, Rows::All)
    }

    /// [`Shard::open`] reading only what plans an epoch and weighs its targets — `shard.json`,
    /// the frame ids, delays, variants and targets — not the features or ids (a compressed
    /// shard's bulk stays on disk). Loaders open every shard this way once, to count its units.
    ///
    /// # Panics
    /// The feature and id accessors of a compressed shard opened this way panic: it holds none.
    pub fn open_index(dir: &Path) -> Result<Shard> {
        Self::open_parts(dir, Rows::Index)
    }

    /// [`Shard::open`] holding the features, ids and targets of at least `rows` (a compressed
    /// shard decompresses only the blocks of [`BLOCK_ROWS`] rows they fall in): what a sequence
    /// loader needs for one segment of a game. Frame ids, delays and variants are whole.
    ///
    /// # Panics
    /// The row accessors panic for rows outside the blocks held.
    pub fn open_rows(dir: &Path, rows: std::ops::Range<usize>) -> Result<Shard> {
        Self::open_parts(dir, Rows::Range(rows))
    }

    fn open_parts(dir: &Path, rows: Rows) -> Result<Shard> {
        if cfg!(target_endian = "big") {
            return Err(ShardError::Info {
                path: dir.to_owned(),
                reason: "shards are little-endian; big-endian hosts are not supported".into(),
            });
        }
        let info = Self::read_info(dir)?;
        let n = info.n;
        let fdt = match info.precision {
            Precision::F32 => Dtype::F32,
            Precision::F16 => Dtype::F16,
        };
        // A compressed shard's blocks, read at once; the blocks of the rows wanted.
        let packed = match info.compression {
            Compression::None => None,
            Compression::Zstd => Some(read_packed(dir, &info)?),
        };
        let blocks = n.div_ceil(BLOCK_ROWS);
        let wanted = match (&rows, &packed) {
            (Rows::Range(r), Some(_)) => {
                let lo = (r.start / BLOCK_ROWS).min(blocks);
                let hi = r.end.div_ceil(BLOCK_ROWS).clamp(lo, blocks);
                lo..hi
            }
            _ => 0..blocks,
        };
        let first = if packed.is_some() {
            wanted.start * BLOCK_ROWS
        } else {
            0
        };
        let open = |name: &str, dtype: Dtype, shape: &[usize]| -> Result<Store> {
            if let Some((path, file, ranges)) = &packed {
                let bulk = matches!(name, "features" | "ids" | "targets");
                let k = ARRAYS.iter().position(|a| *a == name).unwrap_or(0);
                let blocks = match rows {
                    Rows::Index if matches!(name, "features" | "ids") => 0..0,
                    Rows::Range(_) if bulk => wanted.clone(),
                    _ => 0..ranges[k].len(),
                };
                let cols = shape.get(1).copied().unwrap_or(1);
                let row_bytes = cols * dtype.size();
                let held = blocks
                    .clone()
                    .map(|b| (n - b * BLOCK_ROWS).min(BLOCK_ROWS))
                    .sum::<usize>();
                let mut out = Aligned::zeroed(held * row_bytes);
                let mut at = 0;
                for b in blocks {
                    let r = (n - b * BLOCK_ROWS).min(BLOCK_ROWS);
                    let block = crate::packed::unpack(
                        &file[ranges[k][b].clone()],
                        r,
                        cols,
                        dtype.size(),
                        path,
                    )
                    .map_err(|reason| ShardError::Mismatch {
                        path: path.clone(),
                        reason: format!("{name} block {b}: {reason}"),
                    })?;
                    out.bytes_mut()[at..at + r * row_bytes].copy_from_slice(block.bytes());
                    at += r * row_bytes;
                }
                return Ok(Store::Owned(out));
            }
            let path = dir.join(format!("{name}.npy"));
            let a = Npy::open(&path)?;
            if a.dtype != dtype || a.shape != shape {
                return Err(ShardError::Mismatch {
                    path,
                    reason: format!(
                        "{} {:?}, shard.json says {} {:?}",
                        a.dtype.descr(),
                        a.shape,
                        dtype.descr(),
                        shape
                    ),
                });
            }
            // Data starts 16-byte aligned in a page-aligned map (checked by the parser), so
            // typed views below are aligned; verify rather than assume.
            // Sizes are powers of two.
            if a.bytes().as_ptr() as usize & (dtype.size() - 1) != 0 {
                return Err(ShardError::Mismatch {
                    path,
                    reason: "data is not aligned".into(),
                });
            }
            Ok(Store::Mapped(a))
        };
        Ok(Shard {
            features: open("features", fdt, &[n, info.features])?,
            ids: open("ids", Dtype::U32, &[n, info.ids])?,
            targets: open("targets", Dtype::U16, &[n, TARGET_COLUMNS])?,
            frames: open("frames", Dtype::I32, &[n])?,
            delays: open("delays", Dtype::U8, &[n])?,
            variant: open("variant", Dtype::U8, &[n])?,
            dir: dir.to_owned(),
            first,
            info,
        })
    }

    /// The shard's `shard.json`, checked for a version this build reads.
    pub fn read_info(dir: &Path) -> Result<ShardInfo> {
        let p = dir.join("shard.json");
        let text = std::fs::read(&p).map_err(io_err(&p))?;
        let info: ShardInfo = serde_json::from_slice(&text).map_err(|e| ShardError::Info {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        if !(OLDEST_SHARD_FORMAT..=SHARD_FORMAT_VERSION).contains(&info.format_version) {
            return Err(ShardError::Info {
                path: p,
                reason: format!(
                    "format version {}, this build reads {OLDEST_SHARD_FORMAT} to \
                     {SHARD_FORMAT_VERSION}",
                    info.format_version
                ),
            });
        }
        Ok(info)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What `shard.json` says.
    pub fn info(&self) -> &ShardInfo {
        &self.info
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.info.n
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.info.n == 0
    }

    /// Features per example.
    pub fn feature_width(&self) -> usize {
        self.info.features
    }

    /// Ids per example.
    pub fn id_width(&self) -> usize {
        self.info.ids
    }

    /// Row `row`'s features (borrowed for f32 storage, converted for f16).
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn features(&self, row: usize) -> Cow<'_, [f32]> {
        match self.info.precision {
            Precision::F32 => Cow::Borrowed(self.f32_row(row)),
            Precision::F16 => {
                let mut v = vec![0.0; self.info.features];
                self.features_into(row, &mut v);
                Cow::Owned(v)
            }
        }
    }

    /// Copies row `row`'s features into `out` (length [`feature_width`](Self::feature_width)).
    ///
    /// # Panics
    /// When `row >= len()` or `out` has the wrong length.
    pub fn features_into(&self, row: usize, out: &mut [f32]) {
        match self.info.precision {
            Precision::F32 => out.copy_from_slice(self.f32_row(row)),
            Precision::F16 => {
                let w = self.info.features;
                let bits: &[u16] = cast(self.features.bytes());
                let row = row - self.first;
                let h: &[f16] = bits[row * w..(row + 1) * w].reinterpret_cast();
                h.convert_to_f32_slice(out);
            }
        }
    }

    /// Copies the features of rows `start..start + rows` into `out` (length `rows × width`).
    ///
    /// # Panics
    /// When the rows are out of range or `out` has the wrong length.
    pub fn features_range_into(&self, start: usize, rows: usize, out: &mut [f32]) {
        let w = self.info.features;
        let start = start - self.first;
        let range = start * w..(start + rows) * w;
        match self.info.precision {
            Precision::F32 => {
                let all: &[f32] = cast(self.features.bytes());
                out.copy_from_slice(&all[range]);
            }
            Precision::F16 => {
                let bits: &[u16] = cast(self.features.bytes());
                let h: &[f16] = bits[range].reinterpret_cast();
                h.convert_to_f32_slice(out);
            }
        }
    }

    /// The ids of rows `start..start + rows`, row-major.
    ///
    /// # Panics
    /// When the rows are out of range.
    pub fn ids_range(&self, start: usize, rows: usize) -> &[u32] {
        let w = self.info.ids;
        let all: &[u32] = cast(self.ids.bytes());
        let start = start - self.first;
        &all[start * w..(start + rows) * w]
    }

    /// The target columns of rows `start..start + rows`, row-major (6 per row).
    ///
    /// # Panics
    /// When the rows are out of range.
    pub fn targets_range(&self, start: usize, rows: usize) -> &[u16] {
        let all: &[u16] = cast(self.targets.bytes());
        let start = start - self.first;
        &all[start * TARGET_COLUMNS..(start + rows) * TARGET_COLUMNS]
    }

    fn f32_row(&self, row: usize) -> &[f32] {
        let row = row - self.first;
        let w = self.info.features;
        let all: &[f32] = cast(self.features.bytes());
        &all[row * w..(row + 1) * w]
    }

    /// Row `row`'s ids.
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn ids(&self, row: usize) -> &[u32] {
        let row = row - self.first;
        let w = self.info.ids;
        let all: &[u32] = cast(self.ids.bytes());
        &all[row * w..(row + 1) * w]
    }

    /// Row `row`'s six target columns (buttons, main_x, main_y, c_x, c_y, shoulder).
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn target_columns(&self, row: usize) -> &[u16] {
        let row = row - self.first;
        let all: &[u16] = cast(self.targets.bytes());
        &all[row * TARGET_COLUMNS..(row + 1) * TARGET_COLUMNS]
    }

    /// Row `row`'s targets.
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn targets(&self, row: usize) -> Targets {
        targets_of(self.target_columns(row))
    }

    /// Every example's frame id.
    pub fn frames(&self) -> &[i32] {
        cast(self.frames.bytes())
    }

    /// Every example's delay.
    pub fn delays(&self) -> &[u8] {
        self.delays.bytes()
    }

    /// Every example's variant ([`GameExamples::variant`]: 0 original, 1 mirrored, 2.. noisy).
    pub fn variant(&self) -> &[u8] {
        self.variant.bytes()
    }
}

/// The arrays of a shard: `<name>.npy` files, or one zstd frame each in [`PACKED_FILE`].
pub const ARRAYS: [&str; 6] = ["features", "ids", "targets", "frames", "delays", "variant"];

/// The file of a compressed shard's arrays: each array's blocks of [`BLOCK_ROWS`] rows as zstd
/// frames, one after another, in [`ARRAYS`] order, of the sizes `shard.json`'s `packed` lists.
pub const PACKED_FILE: &str = "arrays.zst";

/// Rows of a compressed shard per zstd frame: a sequence loader opening one segment of a game
/// decompresses at most two blocks more than it reads.
pub const BLOCK_ROWS: usize = 4096;

/// Which rows of a shard to hold.
enum Rows {
    All,
    /// Frame ids, delays, variants and targets.
    Index,
    Range(std::ops::Range<usize>),
}

/// A compressed shard's file, its path and each array's blocks' byte ranges in it.
type Packed = (PathBuf, Vec<u8>, Vec<Vec<std::ops::Range<usize>>>);

fn read_packed(dir: &Path, info: &ShardInfo) -> Result<Packed> {
    let path = dir.join(PACKED_FILE);
    let file = std::fs::read(&path).map_err(io_err(&path))?;
    let total: u64 = info.packed.iter().flatten().sum();
    let blocks = info.n.div_ceil(BLOCK_ROWS);
    if info.packed.len() != ARRAYS.len()
        || info.packed.iter().any(|a| a.len() != blocks)
        || total != file.len() as u64
    {
        return Err(ShardError::Mismatch {
            path,
            reason: format!(
                "{} bytes, shard.json lists {} arrays of {blocks} blocks of {total} bytes",
                file.len(),
                info.packed.len()
            ),
        });
    }
    let mut ranges = Vec::with_capacity(ARRAYS.len());
    let mut at = 0usize;
    for array in &info.packed {
        let mut r = Vec::with_capacity(array.len());
        for &len in array {
            r.push(at..at + len as usize);
            at += len as usize;
        }
        ranges.push(r);
    }
    Ok((path, file, ranges))
}

/// Plain-old-data element types that any bit pattern is valid for.
trait Pod: Copy {}
impl Pod for f32 {}
impl Pod for u32 {}
impl Pod for u16 {}
impl Pod for i32 {}

/// Views little-endian bytes as elements. Alignment and endianness are checked in
/// [`Shard::open`]; a misaligned tail would only shorten the view, never read out of bounds.
fn cast<T: Pod>(b: &[u8]) -> &[T] {
    // SAFETY: T is plain old data (every bit pattern valid); align_to only yields the aligned
    // middle part, so the view is in bounds and aligned.
    let (head, mid, _) = unsafe { b.align_to::<T>() };
    debug_assert!(head.is_empty(), "shard data is aligned (checked at open)");
    mid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(n: usize, nf: usize, ni: usize) -> GameExamples {
        GameExamples {
            port: 2,
            source: "abcd".into(),
            frame_ids: (0..n as i32).map(|i| i - 123).collect(),
            delays: (0..n).map(|i| (i % 31) as u8).collect(),
            variant: (0..n)
                .map(|i| (i >= n / 2) as u8 + (i >= 3 * n / 4) as u8)
                .collect(),
            features: (0..n * nf).map(|i| (i as f32 * 0.37).sin() * 3.0).collect(),
            ids: (0..n * ni).map(|i| (i * 7) as u32).collect(),
            targets: (0..n)
                .map(|i| Targets {
                    buttons: Buttons(i as u8),
                    main_x: (i % 17) as u16,
                    main_y: 3,
                    c_x: 4,
                    c_y: 5,
                    shoulder: (i % 5) as u16,
                })
                .collect(),
            anomalies: Default::default(),
        }
    }

    #[test]
    fn round_trip_f32_and_f16() {
        let dir = tempfile::tempdir().unwrap();
        let ex = examples(50, 13, 3);
        for (p, c) in [
            (Precision::F32, Compression::Zstd),
            (Precision::F16, Compression::Zstd),
            (Precision::F32, Compression::None),
            (Precision::F16, Compression::None),
        ] {
            let d = dir.path().join(format!("{p:?}{c:?}"));
            let info = Shard::write_as(&d, &ex, p, c).unwrap();
            assert_eq!(info.compression, c);
            let s = Shard::open(&d).unwrap();
            assert_eq!(s.info(), &info);
            assert_eq!(s.len(), 50);
            let mut buf = vec![0.0; 13];
            for r in 0..50 {
                let want = &ex.features[r * 13..(r + 1) * 13];
                s.features_into(r, &mut buf);
                for (a, b) in want.iter().zip(s.features(r).iter().zip(&buf)) {
                    match p {
                        Precision::F32 => assert_eq!((a, a), (b.0, b.1)),
                        Precision::F16 => {
                            assert!((a - b.0).abs() <= a.abs() / 1024.0 + 1e-6);
                            assert_eq!(b.0, b.1);
                        }
                    }
                }
                assert_eq!(s.ids(r), &ex.ids[r * 3..(r + 1) * 3]);
                assert_eq!(s.targets(r), ex.targets[r]);
            }
            assert_eq!(s.frames(), &ex.frame_ids[..]);
            assert_eq!(s.delays(), &ex.delays[..]);
            assert_eq!(s.variant(), &ex.variant[..]);
        }
        // Rewriting replaces; no temporary directories are left behind.
        Shard::write(
            &dir.path().join("F32Zstd"),
            &examples(3, 13, 3),
            Precision::F32,
        )
        .unwrap();
        assert_eq!(Shard::open(&dir.path().join("F32Zstd")).unwrap().len(), 3);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn compressed_shards_are_a_fraction_of_npy_and_version_2_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let ex = examples(2000, 40, 5);
        let z = Shard::write(&dir.path().join("z"), &ex, Precision::F32).unwrap();
        let n = Shard::write_as(
            &dir.path().join("n"),
            &ex,
            Precision::F32,
            Compression::None,
        )
        .unwrap();
        assert!(z.bytes * 2 < n.bytes, "{} vs {}", z.bytes, n.bytes);
        // A version 2 shard.json (no compression field) reads as `.npy`.
        let p = dir.path().join("n/shard.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        v["format_version"] = 2.into();
        v.as_object_mut().unwrap().remove("compression");
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        let s = Shard::open(&dir.path().join("n")).unwrap();
        assert_eq!(s.info().compression, Compression::None);
        assert_eq!(s.ids(1999), &ex.ids[1999 * 5..]);
        v["format_version"] = 1.into();
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        let e = Shard::open(&dir.path().join("n")).unwrap_err().to_string();
        assert!(
            e.contains("format version 1, this build reads 2 to 3"),
            "{e}"
        );
    }

    #[test]
    fn empty_shard_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("e");
        Shard::write(&d, &GameExamples::default(), Precision::F16).unwrap();
        assert!(Shard::open(&d).unwrap().is_empty());
    }

    #[test]
    fn inconsistent_examples_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut ex = examples(4, 2, 1);
        ex.delays.pop();
        assert!(matches!(
            Shard::write(&dir.path().join("x"), &ex, Precision::F32),
            Err(ShardError::Examples(_))
        ));
        assert!(!dir.path().join("x").exists());
    }

    #[test]
    fn damaged_shards_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("s");
        Shard::write_as(&d, &examples(10, 4, 2), Precision::F32, Compression::None).unwrap();
        // Shape disagreeing with shard.json.
        npy::write(&d.join("ids.npy"), Dtype::U32, &[10, 3], &[0; 120]).unwrap();
        let e = Shard::open(&d).unwrap_err().to_string();
        assert!(e.contains("ids.npy"), "{e}");
        // Wrong dtype.
        npy::write(&d.join("ids.npy"), Dtype::I32, &[10, 2], &[0; 80]).unwrap();
        assert!(Shard::open(&d).unwrap_err().to_string().contains("ids.npy"));
        // Truncated data.
        Shard::write_as(&d, &examples(10, 4, 2), Precision::F32, Compression::None).unwrap();
        let p = d.join("features.npy");
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() - 3]).unwrap();
        let e = Shard::open(&d).unwrap_err().to_string();
        assert!(e.contains("features.npy"), "{e}");
        // Garbage.
        std::fs::write(&p, b"\x93NUMPY\x01\x00\xff\xff{").unwrap();
        assert!(Shard::open(&d)
            .unwrap_err()
            .to_string()
            .contains("features.npy"));
        // Missing file and bad json.
        std::fs::remove_file(&p).unwrap();
        assert!(Shard::open(&d)
            .unwrap_err()
            .to_string()
            .contains("features.npy"));
        std::fs::write(d.join("shard.json"), b"{\"n\": 1}").unwrap();
        assert!(Shard::open(&d)
            .unwrap_err()
            .to_string()
            .contains("shard.json"));
    }

    #[test]
    fn a_row_range_opens_only_its_blocks_and_reads_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("s");
        let n = 3 * BLOCK_ROWS + 100;
        let ex = examples(n, 5, 2);
        let info = Shard::write(&d, &ex, Precision::F32).unwrap();
        assert_eq!(info.packed[0].len(), 4, "four blocks of features");
        let whole = Shard::open(&d).unwrap();
        let (a, b) = (BLOCK_ROWS + 10, 2 * BLOCK_ROWS + 20);
        let part = Shard::open_rows(&d, a..b).unwrap();
        let mut x = vec![0f32; 5 * (b - a)];
        let mut y = vec![0f32; 5 * (b - a)];
        whole.features_range_into(a, b - a, &mut x);
        part.features_range_into(a, b - a, &mut y);
        assert_eq!(x, y);
        assert_eq!(whole.ids_range(a, b - a), part.ids_range(a, b - a));
        assert_eq!(whole.targets_range(a, b - a), part.targets_range(a, b - a));
        assert_eq!(whole.frames(), part.frames());
        assert_eq!(
            part.features(b - 1).to_vec(),
            ex.features[(b - 1) * 5..b * 5].to_vec()
        );
        // Two blocks held, not four.
        assert_eq!(part.features.bytes().len(), 2 * BLOCK_ROWS * 5 * 4);
        // The last, short block.
        let tail = Shard::open_rows(&d, n - 3..n).unwrap();
        assert_eq!(tail.ids(n - 1), &ex.ids[(n - 1) * 2..]);
    }

    #[test]
    fn damaged_compressed_shards_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("s");
        let fresh = || Shard::write(&d, &examples(300, 6, 2), Precision::F32).unwrap();
        let info = fresh();
        let p = d.join(PACKED_FILE);
        let b = std::fs::read(&p).unwrap();
        // Truncated, garbage, missing: the file is named.
        for damaged in [b[..b.len() - 5].to_vec(), b"garbage".to_vec()] {
            std::fs::write(&p, &damaged).unwrap();
            let e = Shard::open(&d).unwrap_err().to_string();
            assert!(e.contains("arrays.zst"), "{e}");
        }
        std::fs::remove_file(&p).unwrap();
        assert!(Shard::open(&d)
            .unwrap_err()
            .to_string()
            .contains("arrays.zst"));
        // A flipped byte anywhere in any array's frame is caught (each frame has a checksum),
        // and the array is named.
        let mut at = 0usize;
        for (k, array) in info.packed.iter().enumerate() {
            for &len in array {
                let mut f = b.clone();
                f[at + len as usize / 2 + 3] ^= 0x40;
                std::fs::write(&p, &f).unwrap();
                let e = Shard::open(&d).unwrap_err().to_string();
                assert!(e.contains("arrays.zst") && e.contains(ARRAYS[k]), "{e}");
                at += len as usize;
            }
        }
        // Frames of other arrays than shard.json promises (two swapped).
        fresh();
        let info = Shard::read_info(&d).unwrap();
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("shard.json")).unwrap()).unwrap();
        let mut swapped = info.packed.clone();
        swapped.swap(3, 4);
        v["packed"] = serde_json::json!(swapped);
        std::fs::write(d.join("shard.json"), serde_json::to_vec(&v).unwrap()).unwrap();
        let e = Shard::open(&d).unwrap_err().to_string();
        assert!(e.contains("arrays.zst"), "{e}");
    }
}
