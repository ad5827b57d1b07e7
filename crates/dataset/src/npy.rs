//! NumPy `.npy` files (format version 1.0): writing little-endian C-order arrays, and reading
//! them back through a memory map with every header field checked, so that a hostile or damaged
//! file is an error, never a panic.
//!
//! # Format
//!
//! `\x93NUMPY`, version bytes `1 0`, a little-endian `u16` header length `H`, then `H` bytes of
//! ASCII: a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (n, k), }`
//! padded with spaces and ended by `\n` so that the data starts at a multiple of 64 bytes; then the
//! raw array bytes, little-endian, row-major. Version 2.0 (a `u32` header length) is read too.
//! `numpy.load(path, mmap_mode="r")` reads these files.

use memmap2::Mmap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The element types used by the shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`.
    F32,
    /// `<f2`.
    F16,
    /// `<u4`.
    U32,
    /// `<u2`.
    U16,
    /// `<i4`.
    I32,
    /// `|u1`.
    U8,
}

impl Dtype {
    /// The NumPy `descr` string.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F16 => "<f2",
            Dtype::U32 => "<u4",
            Dtype::U16 => "<u2",
            Dtype::I32 => "<i4",
            Dtype::U8 => "|u1",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::U32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::U16 => 2,
            Dtype::U8 => 1,
        }
    }

    fn parse(descr: &str) -> Option<Dtype> {
        Some(match descr {
            "<f4" => Dtype::F32,
            "<f2" => Dtype::F16,
            "<u4" => Dtype::U32,
            "<u2" => Dtype::U16,
            "<i4" => Dtype::I32,
            "|u1" | "<u1" => Dtype::U8,
            _ => return None,
        })
    }
}

/// A `.npy` file that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// Opening, mapping or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid `.npy` of a supported kind.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

const MAGIC: &[u8] = b"\x93NUMPY";
/// Largest header accepted when reading (NumPy itself writes a few hundred bytes).
const MAX_HEADER_BYTES: usize = 1 << 16;

/// The header bytes (magic to the final `\n`) of a version 1.0 file.
pub fn header(dtype: Dtype, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        dtype.descr()
    );
    // 10 bytes of preamble + dict + '\n', padded to a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    dict.push_str(&" ".repeat(pad));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // The dict is short (a handful of numbers): it fits a u16.
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes `data` (the little-endian bytes of `shape`'s elements) as a `.npy` file.
pub fn write(path: &Path, dtype: Dtype, shape: &[usize], data: &[u8]) -> Result<(), NpyError> {
    let io = |source| NpyError::Io {
        path: path.to_owned(),
        source,
    };
    debug_assert_eq!(
        data.len(),
        shape.iter().product::<usize>() * dtype.size(),
        "npy data length"
    );
    let mut f = std::io::BufWriter::new(File::create(path).map_err(io)?);
    f.write_all(&header(dtype, shape)).map_err(io)?;
    f.write_all(data).map_err(io)?;
    let f = f.into_inner().map_err(|e| io(e.into_error()))?;
    f.sync_all().map_err(io)?;
    Ok(())
}

/// A memory-mapped `.npy` array.
#[derive(Debug)]
pub struct Npy {
    map: Mmap,
    offset: usize,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
}

impl Npy {
    /// Maps `path` and checks its header; the data must fill the rest of the file exactly.
    pub fn open(path: &Path) -> Result<Npy, NpyError> {
        let io = |source| NpyError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; shard files are written once into a temporary directory
        // and renamed into place, never modified afterwards. Truncating a mapped file under a
        // running reader is outside what the store supports (as with any mmap reader).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let (dtype, shape, offset) = parse_header(&map).map_err(|reason| NpyError::Format {
            path: path.to_owned(),
            reason,
        })?;
        Ok(Npy {
            map,
            offset,
            dtype,
            shape,
        })
    }

    /// The raw data bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map[self.offset..]
    }
}

/// Parses a header: (dtype, shape, data offset). Checks that the data length matches the shape.
pub fn parse_header(b: &[u8]) -> Result<(Dtype, Vec<usize>, usize), String> {
    if b.len() < 10 || &b[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let (len, start) = match (b[6], b[7]) {
        (1, 0) => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        (2, 0) | (3, 0) => {
            if b.len() < 12 {
                return Err("truncated header".into());
            }
            (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
        }
        (maj, min) => return Err(format!("unsupported .npy version {maj}.{min}")),
    };
    if len > MAX_HEADER_BYTES {
        return Err(format!("header length {len} is absurd"));
    }
    let end = start + len;
    let Some(text) = b.get(start..end) else {
        return Err(format!(
            "header length {len} runs past the end of the file ({} bytes)",
            b.len()
        ));
    };
    if end % 16 != 0 {
        return Err(format!("data offset {end} is not 16-byte aligned"));
    }
    let text = std::str::from_utf8(text).map_err(|_| "header is not text".to_string())?;
    let descr = field(text, "descr").ok_or("header has no 'descr'")?;
    let descr = descr
        .trim()
        .strip_prefix('\'')
        .and_then(|d| d.strip_suffix('\''))
        .ok_or("'descr' is not a string")?;
    let dtype = Dtype::parse(descr).ok_or_else(|| format!("unsupported dtype {descr:?}"))?;
    match field(text, "fortran_order").map(str::trim) {
        Some("False") => {}
        Some("True") => return Err("Fortran order is not supported".into()),
        _ => return Err("header has no valid 'fortran_order'".into()),
    }
    let shape = field(text, "shape").ok_or("header has no 'shape'")?;
    let inner = shape
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or("'shape' is not a tuple")?;
    let mut dims = Vec::new();
    for d in inner.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        dims.push(
            d.parse::<usize>()
                .map_err(|_| format!("bad dimension {d:?} in shape"))?,
        );
    }
    let elems = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let bytes = elems.checked_mul(dtype.size()).ok_or("shape overflows")?;
    let have = b.len() - end;
    if have != bytes {
        return Err(format!(
            "shape {dims:?} of {descr} needs {bytes} data bytes, the file has {have}"
        ));
    }
    Ok((dtype, dims, end))
}

/// The text of a dict value `'key': value` up to the next top-level comma or closing brace.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let at = text.find(&pat)? + pat.len();
    let rest = &text[at..];
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header_text: &str, data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(header_text.len() as u16).to_le_bytes());
        b.extend_from_slice(header_text.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn header_is_aligned_and_parses_back() {
        for shape in [vec![0], vec![5], vec![3, 7], vec![123456, 6]] {
            let h = header(Dtype::U16, &shape);
            assert_eq!(h.len() % 64, 0);
            let mut b = h.clone();
            b.resize(h.len() + shape.iter().product::<usize>() * 2, 0);
            let (d, s, off) = parse_header(&b).unwrap();
            assert_eq!((d, s, off), (Dtype::U16, shape, h.len()));
        }
    }

    #[test]
    fn truncations_and_byte_flips_never_panic() {
        let mut good = header(Dtype::F32, &[3, 2]);
        good.extend_from_slice(&[0; 24]);
        assert!(parse_header(&good).is_ok());
        for len in 0..good.len() {
            assert!(parse_header(&good[..len]).is_err(), "prefix {len}");
        }
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut b = good.clone();
            let at = (rng % 74) as usize;
            b[at] = (rng >> 32) as u8;
            let _ = parse_header(&b); // must return, never panic
        }
    }

    #[test]
    fn hostile_headers_are_errors() {
        let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }     \n";
        // Pad to 16-byte alignment for the valid baseline.
        let mut okp = ok.to_string();
        while (10 + okp.len()) & 15 != 0 {
            okp.insert(okp.len() - 1, ' ');
        }
        assert!(parse_header(&file(&okp, &[0; 8])).is_ok());
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            b"\x93NUMPY".to_vec(),
            b"hello world, not npy".to_vec(),
            // header length far past the end
            {
                let mut b = MAGIC.to_vec();
                b.extend_from_slice(&[1, 0, 0xff, 0xff]);
                b
            },
            // version 2 with a 4 GB header length
            {
                let mut b = MAGIC.to_vec();
                b.extend_from_slice(&[2, 0, 0xff, 0xff, 0xff, 0xff]);
                b
            },
            {
                let mut b = MAGIC.to_vec();
                b.extend_from_slice(&[9, 9, 0, 0]);
                b
            },
            file(&okp, &[0; 7]),
            file(&okp, &[0; 9]),
            file(&okp.replace("<f4", "<f8"), &[0; 8]),
            file(&okp.replace("False", "True "), &[0; 8]),
            file(&okp.replace("(2,)", "(x,)"), &[0; 8]),
            file(&okp.replace("(2,)", "(-1,)"), &[0; 8]),
            file(&okp.replace("(2,)", "(99999999999999999999,)"), &[0; 8]),
            file(
                &okp.replace("(2,)", "(4294967296, 4294967296, 4294967296)"),
                &[0; 8],
            ),
            file(&okp.replace("'shape'", "'shapf'"), &[0; 8]),
            file(&okp.replace("(2,)", "[2]  "), &[0; 8]),
            file(&okp[..okp.len() - 3], &[0; 8]),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(parse_header(c).is_err(), "case {i} parsed");
        }
    }
}
