//! A bounded UBJSON reader for the replay's `metadata` object.
//!
//! Lengths are checked against the bytes that remain before anything is allocated, nesting is
//! capped, and every malformed input is an `Err` naming the offset.

use serde_json::{Map, Number, Value};

/// Deepest container nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// A UBJSON parse error at a byte offset (relative to the parsed slice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UbjsonError {
    /// Offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

type Result<T> = std::result::Result<T, UbjsonError>;

impl<'a> Reader<'a> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(UbjsonError {
            offset: self.pos,
            reason: reason.into(),
        })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.data.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(s)
            }
            _ => self.err(format!(
                "needs {n} more bytes, has {}",
                self.data.len() - self.pos
            )),
        }
    }
    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn int(&mut self, marker: u8) -> Result<i64> {
        Ok(match marker {
            b'i' => self.byte()? as i8 as i64,
            b'U' => self.byte()? as i64,
            b'I' => i16::from_be_bytes(self.arr()?) as i64,
            b'l' => i32::from_be_bytes(self.arr()?) as i64,
            b'L' => i64::from_be_bytes(self.arr()?),
            m => return self.err(format!("expected an integer marker, found 0x{m:02x}")),
        })
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }
    fn length(&mut self) -> Result<usize> {
        let m = self.byte()?;
        let n = self.int(m)?;
        if n < 0 || n as u64 > (self.data.len() - self.pos) as u64 {
            return self.err(format!(
                "length {n} exceeds the {} bytes left",
                self.data.len() - self.pos
            ));
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.length()?;
        let bytes = self.take(n)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
    fn value(&mut self, marker: u8, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return self.err("nesting deeper than 64");
        }
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::Number(self.int(marker)?.into()),
            b'd' => float(f32::from_be_bytes(self.arr()?) as f64),
            b'D' => float(f64::from_be_bytes(self.arr()?)),
            b'S' | b'H' => Value::String(self.string()?),
            b'C' => Value::String((self.byte()? as char).to_string()),
            b'{' => Value::Object(self.object(depth + 1)?),
            b'[' => Value::Array(self.array(depth + 1)?),
            b'N' => {
                let m = self.byte()?;
                return self.value(m, depth);
            }
            m => return self.err(format!("unknown UBJSON marker 0x{m:02x}")),
        })
    }
    /// Optional `$type` and `#count` of an optimised container.
    fn container_header(&mut self) -> Result<(Option<u8>, Option<usize>)> {
        let mut ty = None;
        if self.data.get(self.pos) == Some(&b'$') {
            self.pos += 1;
            ty = Some(self.byte()?);
        }
        let mut count = None;
        if self.data.get(self.pos) == Some(&b'#') {
            self.pos += 1;
            count = Some(self.length()?);
        } else if ty.is_some() {
            return self.err("typed container without a count");
        }
        Ok((ty, count))
    }
    fn object(&mut self, depth: usize) -> Result<Map<String, Value>> {
        let (ty, count) = self.container_header()?;
        let mut map = Map::new();
        let mut i = 0usize;
        loop {
            if let Some(c) = count {
                if i == c {
                    break;
                }
            } else if self.data.get(self.pos) == Some(&b'}') {
                self.pos += 1;
                break;
            }
            let key = self.string()?;
            let m = match ty {
                Some(t) => t,
                None => self.byte()?,
            };
            let v = self.value(m, depth)?;
            map.insert(key, v);
            i += 1;
        }
        Ok(map)
    }
    fn array(&mut self, depth: usize) -> Result<Vec<Value>> {
        let (ty, count) = self.container_header()?;
        let mut out = Vec::new();
        let mut i = 0usize;
        loop {
            if let Some(c) = count {
                if i == c {
                    break;
                }
            } else if self.data.get(self.pos) == Some(&b']') {
                self.pos += 1;
                break;
            }
            let m = match ty {
                Some(t) => t,
                None => self.byte()?,
            };
            out.push(self.value(m, depth)?);
            i += 1;
        }
        Ok(out)
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Parses the body of an object whose opening `{` was already consumed; returns the object and
/// the bytes used (including the closing `}`).
pub fn read_object_body(
    data: &[u8],
) -> std::result::Result<(Map<String, Value>, usize), UbjsonError> {
    let mut r = Reader { data, pos: 0 };
    let map = r.object(1)?;
    Ok((map, r.pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_objects_and_rejects_hostile_lengths() {
        // {"a": 5, "s": "hi", "o": {"x": 1.5f32}}
        let mut bytes = vec![b'U', 1, b'a', b'l', 0, 0, 0, 5];
        bytes.extend([b'U', 1, b's', b'S', b'U', 2, b'h', b'i']);
        bytes.extend([b'U', 1, b'o', b'{', b'U', 1, b'x', b'd']);
        bytes.extend(1.5f32.to_be_bytes());
        bytes.extend([b'}', b'}']);
        let (map, used) = read_object_body(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(map["a"], 5);
        assert_eq!(map["s"], "hi");
        assert_eq!(map["o"]["x"], 1.5);

        // A string claiming 2^31 bytes is refused before allocation.
        let hostile = [b'U', 1, b'a', b'S', b'l', 0x7f, 0xff, 0xff, 0xff];
        assert!(read_object_body(&hostile).is_err());
        // Deep nesting is refused.
        let mut deep = Vec::new();
        for _ in 0..200 {
            deep.extend([b'U', 1, b'a', b'{']);
        }
        assert!(read_object_body(&deep).is_err());
    }
}
