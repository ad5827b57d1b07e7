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
//!
//! [`write_npz`] bundles several arrays into one `.npz`: a zip archive of `name.npy` entries,
//! stored uncompressed, which `numpy.load(path)` opens as a mapping from `name` to array.

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
    /// `<i8` (ONNX's index type).
    I64,
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
            Dtype::I64 => "<i8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::U32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::U16 => 2,
            Dtype::U8 => 1,
            Dtype::I64 => 8,
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
            "<i8" => Dtype::I64,
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

/// One array of a `.npz`: name (without `.npy`), element type, shape, little-endian row-major
/// bytes.
pub type NpzArray<'a> = (&'a str, Dtype, &'a [usize], &'a [u8]);

/// Writes the arrays `(name, dtype, shape, little-endian bytes)` as a `.npz` file: a zip archive
/// (no compression) of `name.npy` entries, which `numpy.load(path)` reads as `{name: array}`.
/// The file is replaced atomically ([`exphil_io::write_atomic`]).
///
/// Errors: an empty or repeated name, data that does not fill its shape, or an archive past the
/// classic zip limits (4 GiB, 65 535 entries; zip64 is not written) are [`NpyError::Format`];
/// writing failures are [`NpyError::Io`].
pub fn write_npz(path: &Path, arrays: &[(&str, Dtype, &[usize], &[u8])]) -> Result<(), NpyError> {
    let bytes = npz_bytes(arrays).map_err(|reason| NpyError::Format {
        path: path.to_owned(),
        reason,
    })?;
    exphil_io::write_atomic(path, &bytes).map_err(|source| NpyError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The zip archive of [`write_npz`], in memory.
///
/// # Format
///
/// Per entry a local file header (signature `PK\x03\x04`, version 2.0, method 0 = stored,
/// CRC-32, sizes, name) and the `.npy` bytes; then a central directory header per entry
/// (`PK\x01\x02`, the same fields plus the local header's offset); then the end of central
/// directory record (`PK\x05\x06`: entry count, directory size and offset). All integers are
/// little-endian. Times are 1980-01-01 00:00, so that equal arrays give equal files.
fn npz_bytes(arrays: &[(&str, Dtype, &[usize], &[u8])]) -> Result<Vec<u8>, String> {
    /// DOS date 1980-01-01 (day 1, month 1, year 0); time 00:00:00 is 0.
    const DOS_DATE: u16 = 1 << 5 | 1;
    /// Bit 11: the name is UTF-8.
    const UTF8_NAME: u16 = 1 << 11;
    let too_big = || "the archive passes 4 GiB, which needs zip64 (not supported)".to_string();
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| too_big());
    let entries = u16::try_from(arrays.len())
        .map_err(|_| format!("{} arrays: a zip holds at most 65535", arrays.len()))?;

    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &(name, dtype, shape, data) in arrays {
        if name.is_empty() {
            return Err("an array has an empty name".into());
        }
        if !seen.insert(name) {
            return Err(format!("array name {name:?} is repeated"));
        }
        let want = shape
            .iter()
            .try_fold(dtype.size(), |a, &d| a.checked_mul(d))
            .ok_or_else(|| format!("array {name:?}: shape {shape:?} overflows"))?;
        if data.len() != want {
            return Err(format!(
                "array {name:?}: shape {shape:?} of {} needs {want} bytes, got {}",
                dtype.descr(),
                data.len()
            ));
        }
        let file_name = format!("{name}.npy");
        let name_len = u16::try_from(file_name.len())
            .map_err(|_| format!("array name {name:?} is too long"))?;
        let flags = if file_name.is_ascii() { 0 } else { UTF8_NAME };
        let head = header(dtype, shape);
        let size = u32_of(head.len() + data.len())?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(data);
        let crc = crc.finalize();
        let offset = u32_of(out.len())?;

        // Fields shared by both headers: version needed, flags, method, time, date, CRC, sizes,
        // name length.
        let mut common = Vec::with_capacity(26);
        for v in [20u16, flags, 0, 0, DOS_DATE] {
            common.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, size, size] {
            common.extend_from_slice(&v.to_le_bytes());
        }
        common.extend_from_slice(&name_len.to_le_bytes());

        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        out.extend_from_slice(file_name.as_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by: 2.0, MS-DOS
        central.extend_from_slice(&common);
        // Extra field length, comment length, disk number, internal and external attributes.
        for v in [0u16, 0, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(file_name.as_bytes());
    }
    let central_offset = u32_of(out.len())?;
    let central_size = u32_of(central.len())?;
    out.extend_from_slice(&central);
    u32_of(out.len())?;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    // This disk, the directory's disk, entries on this disk, entries in all.
    for v in [0u16, 0, entries, entries] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    Ok(out)
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

    fn u16_at(b: &[u8], at: usize) -> usize {
        u16::from_le_bytes([b[at], b[at + 1]]) as usize
    }

    fn u32_at(b: &[u8], at: usize) -> usize {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
    }

    #[test]
    fn npz_is_a_stored_zip_of_npy_files() {
        let ids: Vec<u8> = [1i64, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let xs: Vec<u8> = [0.5f32, 1.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        let arrays: &[(&str, Dtype, &[usize], &[u8])] = &[
            ("ids", Dtype::I64, &[3], &ids),
            ("x", Dtype::F32, &[1, 2], &xs),
        ];
        let z = npz_bytes(arrays).unwrap();
        // End of central directory: 22 bytes at the end.
        let eocd = z.len() - 22;
        assert_eq!(&z[eocd..eocd + 4], b"PK\x05\x06");
        assert_eq!((u16_at(&z, eocd + 8), u16_at(&z, eocd + 10)), (2, 2));
        let (cd_size, cd_offset) = (u32_at(&z, eocd + 12), u32_at(&z, eocd + 16));
        assert_eq!(cd_offset + cd_size, eocd);
        // Walk the central directory and check each entry against its local header and data.
        let mut at = cd_offset;
        for (name, dtype, shape, data) in arrays {
            assert_eq!(&z[at..at + 4], b"PK\x01\x02");
            assert_eq!(u16_at(&z, at + 10), 0, "stored, not compressed");
            let (crc, size, name_len) = (
                u32_at(&z, at + 16),
                u32_at(&z, at + 20),
                u16_at(&z, at + 28),
            );
            assert_eq!(u32_at(&z, at + 24), size);
            let file_name = &z[at + 46..at + 46 + name_len];
            assert_eq!(file_name, format!("{name}.npy").as_bytes());
            let local = u32_at(&z, at + 42);
            assert_eq!(&z[local..local + 4], b"PK\x03\x04");
            assert_eq!(z[local + 6..local + 30], z[at + 8..at + 32], "same fields");
            let body = &z[local + 30 + name_len..local + 30 + name_len + size];
            assert_eq!(crc32fast::hash(body) as usize, crc);
            let (d, s, off) = parse_header(body).unwrap();
            assert_eq!((d, s.as_slice()), (*dtype, *shape));
            assert_eq!(&body[off..], *data);
            at += 46 + name_len;
        }
        assert_eq!(at, eocd);
    }

    #[test]
    fn npz_rejects_bad_arrays() {
        let four = [0u8; 4];
        let cases: Vec<Vec<NpzArray>> = vec![
            vec![("", Dtype::F32, &[1], &four)],
            vec![
                ("a", Dtype::F32, &[1], &four),
                ("a", Dtype::F32, &[1], &four),
            ],
            vec![("a", Dtype::F32, &[2], &four)],
            vec![("a", Dtype::I64, &[1], &four)],
            vec![("a", Dtype::F32, &[usize::MAX, 2], &four)],
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(npz_bytes(c).is_err(), "case {i} accepted");
        }
        assert!(npz_bytes(&[]).is_ok(), "an empty archive is valid");
    }

    #[test]
    fn i64_round_trips_through_the_header() {
        let mut b = header(Dtype::I64, &[2]);
        assert!(String::from_utf8_lossy(&b).contains("'<i8'"));
        b.extend_from_slice(&[0; 16]);
        assert_eq!(parse_header(&b).unwrap().0, Dtype::I64);
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
