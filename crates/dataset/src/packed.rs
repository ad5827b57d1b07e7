//! Compressed arrays of the training store: an array's bytes regrouped column by column and byte
//! by byte (a "byte shuffle", as Blosc and HDF5's shuffle filter do), then one zstd frame.
//!
//! # Format
//! For an array of `n` rows, `k` columns and `w`-byte little-endian elements, byte `b` of element
//! `(r, c)` sits at offset `b·n·k + c·n + r` of the frame's content (`n·k·w` bytes). A column of
//! game features changes slowly from frame to frame and its high bytes barely at all, so this
//! order puts long runs of equal bytes side by side: the default embedding's arrays of the shared
//! games compress to 0.19× their `.slp` bytes this way as one frame per array (0.21× in the
//! shards' blocks of 4,096 rows), 0.22× column-major alone and 0.41× row by row (zstd level 3;
//! `cargo bench -p exphil-train --bench store`). In Python:
//! `np.frombuffer(zstandard.decompress(data), np.uint8).reshape(w, k, n).transpose(2, 1, 0)`
//! gives the array's bytes row-major (`.copy().view(dtype).reshape(n, k)`).

use std::path::Path;

/// The zstd level shards are written with (fast to write; level 9 saves 6% more space at three
/// times the build time).
pub const LEVEL: i32 = 3;

/// Bytes held 8-byte aligned, so that any element type up to 8 bytes can be viewed in place.
#[derive(Clone, Debug, Default)]
pub struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Aligned {
        Aligned {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the words hold at least `len` initialised bytes, and u8 has no alignment or
        // validity requirement.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; the borrow is unique.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

/// `bytes` (`rows × cols` elements of `width` bytes, row-major) shuffled and compressed.
///
/// # Panics
/// When `bytes` is not `rows × cols × width` long (a caller's bug, not input).
pub fn pack(bytes: &[u8], rows: usize, cols: usize, width: usize) -> std::io::Result<Vec<u8>> {
    assert_eq!(bytes.len(), rows * cols * width, "array size");
    let mut shuffled = vec![0u8; bytes.len()];
    let plane = rows * cols;
    for r in 0..rows {
        let row = &bytes[r * cols * width..(r + 1) * cols * width];
        for c in 0..cols {
            let e = &row[c * width..(c + 1) * width];
            for (b, &v) in e.iter().enumerate() {
                shuffled[b * plane + c * rows + r] = v;
            }
        }
    }
    let mut z = zstd::bulk::Compressor::new(LEVEL)?;
    // A checksum of the content: damage is an error on reading, never a silently wrong array.
    z.include_checksum(true)?;
    z.compress(&shuffled)
}

/// The row-major bytes of an array packed by [`pack`], or why `data` (read from `path`) is not
/// one of `rows × cols` elements of `width` bytes.
pub fn unpack(
    data: &[u8],
    rows: usize,
    cols: usize,
    width: usize,
    path: &Path,
) -> Result<Aligned, String> {
    let len = rows * cols * width;
    let declared = zstd::zstd_safe::get_frame_content_size(data)
        .map_err(|_| "not a zstd frame".to_string())?;
    if declared != Some(len as u64) {
        return Err(format!(
            "holds {} bytes, shard.json promises {len} ({rows} × {cols} × {width})",
            declared.map_or_else(|| "an unknown number of".into(), |d| d.to_string())
        ));
    }
    let mut shuffled = Vec::with_capacity(len);
    zstd::bulk::Decompressor::new()
        .and_then(|mut d| d.decompress_to_buffer(data, &mut shuffled))
        .map_err(|e| format!("damaged zstd data in {} ({e})", path.display()))?;
    if shuffled.len() != len {
        return Err(format!(
            "decompressed to {} bytes, shard.json promises {len}",
            shuffled.len()
        ));
    }
    let mut out = Aligned::zeroed(len);
    let o = out.bytes_mut();
    let plane = rows * cols;
    let row_bytes = cols * width;
    // Tiles of rows whose output (TILE rows × all columns) stays in cache while every column's
    // byte planes are read for them, so the scattered writes hit cache, not memory.
    const TILE: usize = 64;
    let mut r0 = 0;
    while r0 < rows {
        let r1 = (r0 + TILE).min(rows);
        let tile = &mut o[r0 * row_bytes..r1 * row_bytes];
        for c in 0..cols {
            for b in 0..width {
                let src = &shuffled[b * plane + c * rows + r0..b * plane + c * rows + r1];
                let mut at = c * width + b;
                for &v in src {
                    tile[at] = v;
                    at += row_bytes;
                }
            }
        }
        r0 = r1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_shape_and_width() {
        for (rows, cols, width) in [(0, 3, 4), (1, 1, 1), (7, 3, 4), (100, 17, 2), (33, 1, 8)] {
            let bytes: Vec<u8> = (0..rows * cols * width)
                .map(|i| (i * 31 % 251) as u8)
                .collect();
            let packed = pack(&bytes, rows, cols, width).unwrap();
            let back = unpack(&packed, rows, cols, width, Path::new("x")).unwrap();
            assert_eq!(back.bytes(), &bytes[..], "{rows}×{cols}×{width}");
        }
    }

    #[test]
    fn the_layout_is_column_then_byte_planes() {
        // Two rows, two u16 columns: (r0: 0x0201, 0x0403), (r1: 0x0605, 0x0807).
        let bytes = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let packed = pack(&bytes, 2, 2, 2).unwrap();
        let raw = zstd::bulk::decompress(&packed, 8).unwrap();
        // Low bytes of column 0 (rows 0, 1), of column 1, then the high bytes likewise.
        assert_eq!(raw, [1, 5, 3, 7, 2, 6, 4, 8]);
    }

    #[test]
    fn damage_and_wrong_sizes_are_errors_not_panics() {
        let bytes: Vec<u8> = (0..400).map(|i| (i % 7) as u8).collect();
        let packed = pack(&bytes, 100, 1, 4).unwrap();
        let p = Path::new("features.zst");
        assert!(unpack(&packed, 100, 2, 4, p)
            .unwrap_err()
            .contains("promises 800"));
        assert!(unpack(b"not zstd", 100, 1, 4, p).is_err());
        let mut cut = packed.clone();
        cut.truncate(packed.len() / 2);
        assert!(unpack(&cut, 100, 1, 4, p).is_err());
        // Any flipped byte after the header is caught (the frame carries a checksum).
        for at in 6..packed.len() {
            let mut flipped = packed.clone();
            flipped[at] ^= 0x55;
            assert!(unpack(&flipped, 100, 1, 4, p).is_err(), "byte {at}");
        }
    }
}
