//! The training-ready feature store: one directory of memory-mappable `.npy` arrays per game and
//! perspective (a *shard*), in an open format that NumPy reads without exphil.
//!
//! # Layout of a shard directory
//!
//! | file | dtype | shape | holds |
//! | --- | --- | --- | --- |
//! | `features.npy` | `<f4` or `<f2` ([`Precision`]) | `[n, F]` | embedded features |
//! | `ids.npy` | `<u4` | `[n, I]` | integer ids (action, character, stage, …) |
//! | `targets.npy` | `<u2` | `[n, 6]` | buttons bitmask, main_x, main_y, c_x, c_y, shoulder classes |
//! | `frames.npy` | `<i4` | `[n]` | frame id `t` of each example's target |
//! | `delays.npy` | `|u1` | `[n]` | delay (the state is from `t − delay`) |
//! | `variant.npy` | `|u1` | `[n]` | 0 original, 1 mirrored copy, `2 + c` noisy copy `c + 1` |
//! | `shard.json` | | | [`ShardInfo`]: `n`, widths, precision, port, source hash |
//!
//! Every `.npy` is NumPy format 1.0, little-endian, C order, data 64-byte aligned (see
//! [`crate::npy`]). Rows are in the order of [`GameExamples`](crate::GameExamples): originals by
//! frame, then mirrored copies, then noisy copies (copy 1, copy 2, …). A shard is written into a temporary sibling directory and
//! renamed into place, so a crash never leaves a half-written shard under the final name.

use crate::examples::GameExamples;
use crate::npy::{self, Dtype, Npy, NpyError};
use exphil_embed::Targets;
use exphil_state::Buttons;
use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Version of the shard layout, stored in `shard.json`.
pub const SHARD_FORMAT_VERSION: u32 = 2;

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

/// An opened, memory-mapped shard.
#[derive(Debug)]
pub struct Shard {
    dir: PathBuf,
    info: ShardInfo,
    features: Npy,
    ids: Npy,
    targets: Npy,
    frames: Npy,
    delays: Npy,
    variant: Npy,
}

impl Shard {
    /// Writes `ex` as a shard at `dir` (replacing any shard there), through a temporary sibling
    /// directory renamed into place.
    pub fn write(dir: &Path, ex: &GameExamples, precision: Precision) -> Result<ShardInfo> {
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
        let result = Self::write_into(&tmp, ex, precision, n, nf, ni).and_then(|info| {
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

    fn write_into(
        tmp: &Path,
        ex: &GameExamples,
        precision: Precision,
        n: usize,
        nf: usize,
        ni: usize,
    ) -> Result<ShardInfo> {
        std::fs::create_dir_all(tmp).map_err(io_err(tmp))?;
        let feats = match precision {
            Precision::F32 => le_bytes(&ex.features, f32::to_le_bytes),
            Precision::F16 => {
                let mut h = vec![f16::ZERO; ex.features.len()];
                h.convert_from_f32_slice(&ex.features);
                le_bytes(&h, |x| x.to_bits().to_le_bytes())
            }
        };
        let fdt = match precision {
            Precision::F32 => Dtype::F32,
            Precision::F16 => Dtype::F16,
        };
        npy::write(&tmp.join("features.npy"), fdt, &[n, nf], &feats)?;
        drop(feats);
        npy::write(
            &tmp.join("ids.npy"),
            Dtype::U32,
            &[n, ni],
            &le_bytes(&ex.ids, u32::to_le_bytes),
        )?;
        let t: Vec<u16> = ex.targets.iter().flat_map(target_row).collect();
        npy::write(
            &tmp.join("targets.npy"),
            Dtype::U16,
            &[n, TARGET_COLUMNS],
            &le_bytes(&t, u16::to_le_bytes),
        )?;
        npy::write(
            &tmp.join("frames.npy"),
            Dtype::I32,
            &[n],
            &le_bytes(&ex.frame_ids, i32::to_le_bytes),
        )?;
        npy::write(&tmp.join("delays.npy"), Dtype::U8, &[n], &ex.delays)?;
        npy::write(&tmp.join("variant.npy"), Dtype::U8, &[n], &ex.variant)?;
        let mut bytes = 0;
        for f in ARRAYS {
            let p = tmp.join(f);
            bytes += std::fs::metadata(&p).map_err(io_err(&p))?.len();
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

    /// Opens the shard at `dir`: reads `shard.json`, maps every array and checks dtypes and
    /// shapes against it (an error names the file).
    pub fn open(dir: &Path) -> Result<Shard> {
        if cfg!(target_endian = "big") {
            return Err(ShardError::Info {
                path: dir.to_owned(),
                reason: "shards are little-endian; big-endian hosts are not supported".into(),
            });
        }
        let p = dir.join("shard.json");
        let text = std::fs::read(&p).map_err(io_err(&p))?;
        let info: ShardInfo = serde_json::from_slice(&text).map_err(|e| ShardError::Info {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        if info.format_version != SHARD_FORMAT_VERSION {
            return Err(ShardError::Info {
                path: p,
                reason: format!(
                    "format version {}, this build reads {SHARD_FORMAT_VERSION}",
                    info.format_version
                ),
            });
        }
        let n = info.n;
        let fdt = match info.precision {
            Precision::F32 => Dtype::F32,
            Precision::F16 => Dtype::F16,
        };
        let open = |name: &str, dtype: Dtype, shape: &[usize]| -> Result<Npy> {
            let path = dir.join(name);
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
            Ok(a)
        };
        Ok(Shard {
            features: open("features.npy", fdt, &[n, info.features])?,
            ids: open("ids.npy", Dtype::U32, &[n, info.ids])?,
            targets: open("targets.npy", Dtype::U16, &[n, TARGET_COLUMNS])?,
            frames: open("frames.npy", Dtype::I32, &[n])?,
            delays: open("delays.npy", Dtype::U8, &[n])?,
            variant: open("variant.npy", Dtype::U8, &[n])?,
            dir: dir.to_owned(),
            info,
        })
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
        &all[start * w..(start + rows) * w]
    }

    /// The target columns of rows `start..start + rows`, row-major (6 per row).
    ///
    /// # Panics
    /// When the rows are out of range.
    pub fn targets_range(&self, start: usize, rows: usize) -> &[u16] {
        let all: &[u16] = cast(self.targets.bytes());
        &all[start * TARGET_COLUMNS..(start + rows) * TARGET_COLUMNS]
    }

    fn f32_row(&self, row: usize) -> &[f32] {
        let w = self.info.features;
        let all: &[f32] = cast(self.features.bytes());
        &all[row * w..(row + 1) * w]
    }

    /// Row `row`'s ids.
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn ids(&self, row: usize) -> &[u32] {
        let w = self.info.ids;
        let all: &[u32] = cast(self.ids.bytes());
        &all[row * w..(row + 1) * w]
    }

    /// Row `row`'s six target columns (buttons, main_x, main_y, c_x, c_y, shoulder).
    ///
    /// # Panics
    /// When `row >= len()`.
    pub fn target_columns(&self, row: usize) -> &[u16] {
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

/// The array files of a shard.
pub const ARRAYS: [&str; 6] = [
    "features.npy",
    "ids.npy",
    "targets.npy",
    "frames.npy",
    "delays.npy",
    "variant.npy",
];

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
        for p in [Precision::F32, Precision::F16] {
            let d = dir.path().join(format!("{p:?}"));
            let info = Shard::write(&d, &ex, p).unwrap();
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
        Shard::write(&dir.path().join("F32"), &examples(3, 13, 3), Precision::F32).unwrap();
        assert_eq!(Shard::open(&dir.path().join("F32")).unwrap().len(), 3);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
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
        Shard::write(&d, &examples(10, 4, 2), Precision::F32).unwrap();
        // Shape disagreeing with shard.json.
        npy::write(&d.join("ids.npy"), Dtype::U32, &[10, 3], &[0; 120]).unwrap();
        let e = Shard::open(&d).unwrap_err().to_string();
        assert!(e.contains("ids.npy"), "{e}");
        // Wrong dtype.
        npy::write(&d.join("ids.npy"), Dtype::I32, &[10, 2], &[0; 80]).unwrap();
        assert!(Shard::open(&d).unwrap_err().to_string().contains("ids.npy"));
        // Truncated data.
        Shard::write(&d, &examples(10, 4, 2), Precision::F32).unwrap();
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
}
