//! Named f32 tensors (model weights, optimiser moments, EMA weights) and their files.
//!
//! Files are [safetensors](https://github.com/huggingface/safetensors): an 8-byte little-endian
//! header length `N`, `N` bytes of JSON header (padded with spaces to a multiple of 8), then the
//! data section. The header maps each tensor name to
//! `{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` (offsets relative to the data
//! section, little-endian f32 values, row-major) and holds string metadata under `__metadata__`.
//! Python's `safetensors.numpy.load_file` reads these files.
//!
//! exphil adds two metadata keys when writing: `exphil.xxh3`, the xxh3-64 of the data section,
//! and `exphil.header_xxh3`, the xxh3-64 of a canonical form of the header (every tensor's name,
//! shape and offsets, and every other metadata entry), both as 16 hex digits. A reader verifies
//! them when present (one without the other is refused), so a flipped byte anywhere that
//! carries content is refused. Files written
//! elsewhere (without the keys) are read with the structural checks only.
//!
//! Reading is safe on hostile input: every length and offset is checked against the file size
//! before use, the header is at most [`MAX_HEADER_LEN`] bytes, the offsets must tile the data
//! section exactly, and only `F32` tensors are accepted. Tensors holding NaN or ±Inf are refused
//! on both write and read, naming the tensor.

use exphil_io::write_atomic;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

/// The metadata key holding the xxh3-64 of the data section.
pub const DATA_CHECKSUM_KEY: &str = "exphil.xxh3";
/// The metadata key holding the xxh3-64 of the canonical header.
pub const HEADER_CHECKSUM_KEY: &str = "exphil.header_xxh3";
/// The largest header a reader accepts (100 MiB).
pub const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// One named tensor in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Plain dotted name, e.g. `trunk.layers.0.linear.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// A tensor from its parts (no checks; writing checks the length against the shape).
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            shape,
            data,
        }
    }

    /// The first non-finite value: its index and value.
    pub fn first_non_finite(&self) -> Option<(usize, f32)> {
        self.data
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
            .map(|(i, v)| (i, *v))
    }
}

/// Why a tensor file could not be written or read. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TensorFileError {
    /// The file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is shorter than its 8-byte header length.
    #[error("{file}: {len} bytes is too short for a safetensors file (needs at least 8)")]
    TooShort {
        /// The file.
        file: String,
        /// Its length in bytes.
        len: u64,
    },
    /// The header length is larger than the file or than [`MAX_HEADER_LEN`].
    #[error(
        "{file}: header length {header_len} is impossible (file is {file_len} bytes, limit {limit})"
    )]
    HeaderLength {
        /// The file.
        file: String,
        /// The stored header length.
        header_len: u64,
        /// The file's length.
        file_len: u64,
        /// The largest accepted header.
        limit: u64,
    },
    /// The header is not valid JSON of the expected structure.
    #[error("{file}: bad header: {reason}")]
    BadHeader {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor has a dtype other than `F32`.
    #[error("{file}: tensor {tensor:?} has dtype {dtype:?}; only F32 is supported")]
    Dtype {
        /// The file.
        file: String,
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: String,
    },
    /// A tensor's shape does not match its byte range (or its value count, when writing).
    #[error("{file}: tensor {tensor:?}: {reason}")]
    Shape {
        /// The file.
        file: String,
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// The tensors' byte ranges do not tile the data section exactly.
    #[error("{file}: tensor data does not tile the {data_len}-byte data section: {reason}")]
    Layout {
        /// The file.
        file: String,
        /// The data section's length.
        data_len: u64,
        /// What is wrong.
        reason: String,
    },
    /// A stored checksum does not match the content.
    #[error(
        "{file}: {what} checksum mismatch (stored {stored}, computed {computed:016x}): the file is corrupt"
    )]
    Checksum {
        /// The file.
        file: String,
        /// `data` or `header`.
        what: &'static str,
        /// The stored value.
        stored: String,
        /// The value computed from the content.
        computed: u64,
    },
    /// A tensor holds NaN or ±Inf.
    #[error("{file}: tensor {tensor:?} holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// The file.
        file: String,
        /// The tensor.
        tensor: String,
        /// Flat index of the first such value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// The tensors or metadata given to the writer are unusable.
    #[error("{file}: cannot write: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// The canonical form of a header that `exphil.header_xxh3` covers: tensors in data order, each
/// as name, shape and offsets, then the metadata entries other than the two checksums.
fn header_digest(
    entries: &[(String, Vec<usize>, u64, u64)],
    meta: &BTreeMap<String, String>,
) -> u64 {
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort_by(|a, b| (a.2, a.3, &a.0).cmp(&(b.2, b.3, &b.0)));
    let mut buf = Vec::new();
    let mut put = |bytes: &[u8]| {
        buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        buf.extend_from_slice(bytes);
    };
    put(b"exphil-safetensors-header-v1");
    for (name, shape, begin, end) in sorted {
        put(name.as_bytes());
        let mut dims = Vec::with_capacity(8 * shape.len() + 16);
        for d in shape {
            dims.extend_from_slice(&(*d as u64).to_le_bytes());
        }
        dims.extend_from_slice(&begin.to_le_bytes());
        dims.extend_from_slice(&end.to_le_bytes());
        put(&dims);
    }
    put(b"__metadata__");
    for (k, v) in meta {
        if k != DATA_CHECKSUM_KEY && k != HEADER_CHECKSUM_KEY {
            put(k.as_bytes());
            put(v.as_bytes());
        }
    }
    xxh3_64(&buf)
}

/// Serialises tensors and metadata to safetensors bytes (with the exphil checksums). `file` is
/// used only in error messages. Refuses NaN/±Inf (naming the tensor), empty or duplicate names,
/// the name `__metadata__`, data whose length differs from the shape's product, and metadata
/// using the checksum keys.
pub fn encode_tensors(
    file: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, TensorFileError> {
    let fname = || file.display().to_string();
    let invalid = |reason: String| TensorFileError::Invalid {
        file: fname(),
        reason,
    };
    for key in [DATA_CHECKSUM_KEY, HEADER_CHECKSUM_KEY] {
        if metadata.contains_key(key) {
            return Err(invalid(format!("metadata key {key:?} is reserved")));
        }
    }
    let mut seen = BTreeSet::new();
    let mut entries = Vec::with_capacity(tensors.len());
    let mut offset = 0u64;
    for t in tensors {
        if t.name.is_empty() || t.name == "__metadata__" {
            return Err(invalid(format!("tensor name {:?} is not allowed", t.name)));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(invalid(format!("tensor name {:?} appears twice", t.name)));
        }
        let count = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if count != Some(t.data.len()) {
            return Err(TensorFileError::Shape {
                file: fname(),
                tensor: t.name.clone(),
                reason: format!(
                    "shape {:?} does not match its {} values",
                    t.shape,
                    t.data.len()
                ),
            });
        }
        if let Some((index, value)) = t.first_non_finite() {
            return Err(TensorFileError::NonFinite {
                file: fname(),
                tensor: t.name.clone(),
                index,
                value,
            });
        }
        let end = offset + 4 * t.data.len() as u64;
        entries.push((t.name.clone(), t.shape.clone(), offset, end));
        offset = end;
    }
    let mut data = Vec::with_capacity(offset as usize);
    for t in tensors {
        for v in &t.data {
            data.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut meta = metadata.clone();
    meta.insert(DATA_CHECKSUM_KEY.into(), format!("{:016x}", xxh3_64(&data)));
    meta.insert(
        HEADER_CHECKSUM_KEY.into(),
        format!("{:016x}", header_digest(&entries, &meta)),
    );
    let mut header = Map::new();
    header.insert(
        "__metadata__".into(),
        Value::Object(
            meta.into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ),
    );
    for (name, shape, begin, end) in entries {
        let mut info = Map::new();
        info.insert("dtype".into(), Value::from("F32"));
        info.insert("shape".into(), Value::from(shape));
        info.insert("data_offsets".into(), Value::from(vec![begin, end]));
        header.insert(name, Value::Object(info));
    }
    let mut json = serde_json::to_vec(&Value::Object(header))
        .map_err(|e| invalid(format!("header serialisation failed: {e}")))?;
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + data.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&data);
    Ok(out)
}

/// Writes tensors and metadata to `path` atomically (see [`encode_tensors`] for what is refused).
pub fn write_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), TensorFileError> {
    let bytes = encode_tensors(path, tensors, metadata)?;
    write_atomic(path, &bytes).map_err(|source| TensorFileError::Io {
        file: path.display().to_string(),
        source,
    })
}

/// Reads a safetensors file: the tensors in data order (empty tensors sharing an offset by name)
/// and the metadata (without the exphil
/// checksum keys, which are verified when present).
pub fn read_tensors(
    path: &Path,
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), TensorFileError> {
    let bytes = std::fs::read(path).map_err(|source| TensorFileError::Io {
        file: path.display().to_string(),
        source,
    })?;
    decode_tensors(path, &bytes)
}

/// Parses safetensors bytes (see [`read_tensors`]); `file` is used only in error messages.
pub fn decode_tensors(
    file: &Path,
    bytes: &[u8],
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), TensorFileError> {
    let fname = || file.display().to_string();
    let bad = |reason: String| TensorFileError::BadHeader {
        file: fname(),
        reason,
    };
    let file_len = bytes.len() as u64;
    if bytes.len() < 8 {
        return Err(TensorFileError::TooShort {
            file: fname(),
            len: file_len,
        });
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[..8]);
    let header_len = u64::from_le_bytes(len8);
    if header_len > MAX_HEADER_LEN || header_len > file_len - 8 {
        return Err(TensorFileError::HeaderLength {
            file: fname(),
            header_len,
            file_len,
            limit: MAX_HEADER_LEN,
        });
    }
    let header_end = 8 + header_len as usize;
    let header_bytes = &bytes[8..header_end];
    let data = &bytes[header_end..];
    let data_len = data.len() as u64;
    if header_bytes.first() != Some(&b'{') {
        return Err(bad("the header does not start with '{'".into()));
    }
    let header: Value = serde_json::from_slice(header_bytes).map_err(|e| bad(e.to_string()))?;
    let Value::Object(header) = header else {
        return Err(bad("the header is not a JSON object".into()));
    };

    let mut meta = BTreeMap::new();
    let mut entries: Vec<(String, Vec<usize>, u64, u64)> = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            let Value::Object(m) = info else {
                return Err(bad("__metadata__ is not an object".into()));
            };
            for (k, v) in m {
                let Value::String(v) = v else {
                    return Err(bad(format!("metadata value of {k:?} is not a string")));
                };
                meta.insert(k, v);
            }
            continue;
        }
        let Value::Object(info) = info else {
            return Err(bad(format!("entry {name:?} is not an object")));
        };
        if let Some(k) = info
            .keys()
            .find(|k| !matches!(k.as_str(), "dtype" | "shape" | "data_offsets"))
        {
            return Err(bad(format!("tensor {name:?} has unknown field {k:?}")));
        }
        let dtype = match info.get("dtype") {
            Some(Value::String(d)) => d,
            _ => return Err(bad(format!("tensor {name:?} has no string dtype"))),
        };
        if dtype != "F32" {
            return Err(TensorFileError::Dtype {
                file: fname(),
                tensor: name,
                dtype: dtype.clone(),
            });
        }
        let shape = match info.get("shape") {
            Some(Value::Array(dims)) => dims
                .iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| bad(format!("tensor {name:?} has a non-integer dimension")))?,
            _ => return Err(bad(format!("tensor {name:?} has no shape array"))),
        };
        let (begin, end) = match info.get("data_offsets") {
            Some(Value::Array(o)) if o.len() == 2 => match (o[0].as_u64(), o[1].as_u64()) {
                (Some(b), Some(e)) => (b, e),
                _ => return Err(bad(format!("tensor {name:?} has non-integer offsets"))),
            },
            _ => return Err(bad(format!("tensor {name:?} has no [begin, end] offsets"))),
        };
        if begin > end || end > data_len {
            return Err(TensorFileError::Layout {
                file: fname(),
                data_len,
                reason: format!("tensor {name:?} has offsets [{begin}, {end}]"),
            });
        }
        let count = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        if count.and_then(|c| c.checked_mul(4)) != Some(end - begin) {
            return Err(TensorFileError::Shape {
                file: fname(),
                tensor: name,
                reason: format!(
                    "shape {shape:?} does not match its {} bytes of data",
                    end - begin
                ),
            });
        }
        entries.push((name, shape, begin, end));
    }
    entries.sort_by(|a, b| (a.2, a.3, &a.0).cmp(&(b.2, b.3, &b.0)));
    let mut at = 0u64;
    for (name, _, begin, end) in &entries {
        if *begin != at {
            return Err(TensorFileError::Layout {
                file: fname(),
                data_len,
                reason: format!("tensor {name:?} starts at {begin}, expected {at}"),
            });
        }
        at = *end;
    }
    if at != data_len {
        return Err(TensorFileError::Layout {
            file: fname(),
            data_len,
            reason: format!("the tensors end at byte {at}"),
        });
    }

    if meta.contains_key(DATA_CHECKSUM_KEY) != meta.contains_key(HEADER_CHECKSUM_KEY) {
        return Err(bad(format!(
            "only one of the checksums {DATA_CHECKSUM_KEY:?} and {HEADER_CHECKSUM_KEY:?} is present (exphil writes both): the file is corrupt"
        )));
    }
    for (key, what, computed) in [
        (DATA_CHECKSUM_KEY, "data", xxh3_64(data)),
        (
            HEADER_CHECKSUM_KEY,
            "header",
            header_digest(&entries, &meta),
        ),
    ] {
        if let Some(stored) = meta.get(key) {
            if *stored != format!("{computed:016x}") {
                return Err(TensorFileError::Checksum {
                    file: fname(),
                    what,
                    stored: stored.clone(),
                    computed,
                });
            }
        }
    }
    meta.remove(DATA_CHECKSUM_KEY);
    meta.remove(HEADER_CHECKSUM_KEY);

    let mut tensors = Vec::with_capacity(entries.len());
    for (name, shape, begin, end) in entries {
        let values: Vec<f32> = data[begin as usize..end as usize]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let t = NamedTensor::new(name, shape, values);
        if let Some((index, value)) = t.first_non_finite() {
            return Err(TensorFileError::NonFinite {
                file: fname(),
                tensor: t.name,
                index,
                value,
            });
        }
        tensors.push(t);
    }
    Ok((tensors, meta))
}
