//! The msgpack subset UMI uses (nil, booleans, integers, floats, strings, binary, arrays, maps),
//! decoded from a complete message with every length checked against the bytes that remain
//! before anything is allocated, and a nesting limit: hostile input costs at most its own size.

use std::fmt;

/// A decoded msgpack value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// nil.
    Nil,
    /// true / false.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// float 32.
    F32(f32),
    /// float 64.
    F64(f64),
    /// A UTF-8 string.
    Str(String),
    /// Binary bytes.
    Bin(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
    /// A map, in wire order.
    Map(Vec<(Value, Value)>),
}

/// Why bytes are not a msgpack value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("the message ends inside a value (at byte {0})")]
    Truncated(usize),
    /// A type byte msgpack does not define, or one UMI does not use (ext).
    #[error("unsupported msgpack type byte 0x{byte:02x} at byte {at}")]
    Type {
        /// The byte.
        byte: u8,
        /// Where.
        at: usize,
    },
    /// A length longer than the rest of the message.
    #[error("a length of {len} at byte {at} is more than the {left} bytes left")]
    Length {
        /// The declared length.
        len: usize,
        /// Where.
        at: usize,
        /// Bytes left.
        left: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested more than {MAX_DEPTH} levels deep")]
    Depth,
    /// A string that is not UTF-8.
    #[error("a string at byte {0} is not UTF-8")]
    Utf8(usize),
    /// Bytes after the value.
    #[error("{0} bytes after the end of the value")]
    Trailing(usize),
}

/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let left = self.b.len() - self.pos;
        if n > left {
            return Err(DecodeError::Truncated(self.b.len()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A length of `len` items, each at least `min_bytes` long, must fit in what is left.
    fn len(&mut self, len: usize, min_bytes: usize) -> Result<usize, DecodeError> {
        let left = self.b.len() - self.pos;
        if len.saturating_mul(min_bytes) > left {
            return Err(DecodeError::Length {
                len,
                at: self.pos,
                left,
            });
        }
        Ok(len)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::Depth);
        }
        let at = self.pos;
        let t = self.u8()?;
        Ok(match t {
            0x00..=0x7f => Value::UInt(u64::from(t)),
            0x80..=0x8f => self.map(usize::from(t & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(t & 0x0f), depth)?,
            0xa0..=0xbf => self.str(usize::from(t & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = usize::from(self.u8()?);
                self.bin(n)?
            }
            0xc5 => {
                let n = usize::from(u16::from_be_bytes(self.be()?));
                self.bin(n)?
            }
            0xc6 => {
                let n = u32::from_be_bytes(self.be()?) as usize;
                self.bin(n)?
            }
            0xca => Value::F32(f32::from_be_bytes(self.be()?)),
            0xcb => Value::F64(f64::from_be_bytes(self.be()?)),
            0xcc => Value::UInt(u64::from(self.u8()?)),
            0xcd => Value::UInt(u64::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::UInt(u64::from(u32::from_be_bytes(self.be()?))),
            0xcf => Value::UInt(u64::from_be_bytes(self.be()?)),
            0xd0 => int(i64::from(self.u8()? as i8)),
            0xd1 => int(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => int(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => int(i64::from_be_bytes(self.be()?)),
            0xd9 => {
                let n = usize::from(self.u8()?);
                self.str(n)?
            }
            0xda => {
                let n = usize::from(u16::from_be_bytes(self.be()?));
                self.str(n)?
            }
            0xdb => {
                let n = u32::from_be_bytes(self.be()?) as usize;
                self.str(n)?
            }
            0xdc => {
                let n = usize::from(u16::from_be_bytes(self.be()?));
                self.array(n, depth)?
            }
            0xdd => {
                let n = u32::from_be_bytes(self.be()?) as usize;
                self.array(n, depth)?
            }
            0xde => {
                let n = usize::from(u16::from_be_bytes(self.be()?));
                self.map(n, depth)?
            }
            0xdf => {
                let n = u32::from_be_bytes(self.be()?) as usize;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::Int(i64::from(t as i8)),
            byte => return Err(DecodeError::Type { byte, at }),
        })
    }

    fn bin(&mut self, n: usize) -> Result<Value, DecodeError> {
        self.len(n, 1)?;
        Ok(Value::Bin(self.take(n)?.to_vec()))
    }

    fn str(&mut self, n: usize) -> Result<Value, DecodeError> {
        self.len(n, 1)?;
        let at = self.pos;
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Utf8(at))?;
        Ok(Value::Str(s.to_owned()))
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        let n = self.len(n, 1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(v))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        let n = self.len(n, 2)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let x = self.value(depth + 1)?;
            v.push((k, x));
        }
        Ok(Value::Map(v))
    }
}

fn int(v: i64) -> Value {
    if v >= 0 {
        Value::UInt(v as u64)
    } else {
        Value::Int(v)
    }
}

/// Decodes one value that spans all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader { b: bytes, pos: 0 };
    let v = r.value(0)?;
    if r.pos != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - r.pos));
    }
    Ok(v)
}

/// Appends the encoding of `v` to `out` (the smallest form of each integer and length).
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::UInt(u) => encode_uint(*u, out),
        Value::Int(i) if *i >= 0 => encode_uint(*i as u64, out),
        Value::Int(i) => {
            if *i >= -32 {
                out.push(*i as i8 as u8);
            } else if *i >= i64::from(i8::MIN) {
                out.push(0xd0);
                out.push(*i as i8 as u8);
            } else if *i >= i64::from(i16::MIN) {
                out.push(0xd1);
                out.extend_from_slice(&(*i as i16).to_be_bytes());
            } else if *i >= i64::from(i32::MIN) {
                out.push(0xd2);
                out.extend_from_slice(&(*i as i32).to_be_bytes());
            } else {
                out.push(0xd3);
                out.extend_from_slice(&i.to_be_bytes());
            }
        }
        Value::F32(f) => {
            out.push(0xca);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::F64(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => {
            let n = s.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.push(0xd9);
                out.push(n as u8);
            } else if n <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bin(b) => {
            let n = b.len();
            if n <= 0xff {
                out.push(0xc4);
                out.push(n as u8);
            } else if n <= 0xffff {
                out.push(0xc5);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xc6);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(b);
        }
        Value::Array(a) => {
            head(a.len(), 0x90, 0xdc, 0xdd, out);
            for x in a {
                encode(x, out);
            }
        }
        Value::Map(m) => {
            head(m.len(), 0x80, 0xde, 0xdf, out);
            for (k, x) in m {
                encode(k, out);
                encode(x, out);
            }
        }
    }
}

fn head(n: usize, fix: u8, b16: u8, b32: u8, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_uint(u: u64, out: &mut Vec<u8>) {
    if u < 128 {
        out.push(u as u8);
    } else if u <= 0xff {
        out.push(0xcc);
        out.push(u as u8);
    } else if u <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

impl Value {
    /// A map with string keys.
    pub fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Str(k.to_owned()), v))
                .collect(),
        )
    }

    /// The value of string key `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(u) => Some(*u),
            _ => None,
        }
    }

    /// Any integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::UInt(u) => i64::try_from(*u).ok(),
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A number (integer or float) as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F32(f) => Some(f64::from(*f)),
            Value::F64(f) => Some(*f),
            Value::UInt(u) => Some(*u as f64),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Binary bytes.
    pub fn as_bin(&self) -> Option<&[u8]> {
        match self {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// An array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::F32(x) => write!(f, "{x}"),
            Value::F64(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bin(b) => write!(f, "<{} bytes>", b.len()),
            Value::Array(a) => write!(f, "[{} items]", a.len()),
            Value::Map(m) => write!(f, "{{{} entries}}", m.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(v: Value) {
        let mut b = Vec::new();
        encode(&v, &mut b);
        assert_eq!(decode(&b).unwrap(), v, "{b:02x?}");
    }

    #[test]
    fn values_round_trip() {
        for v in [
            Value::Nil,
            Value::Bool(true),
            Value::UInt(0),
            Value::UInt(127),
            Value::UInt(128),
            Value::UInt(70_000),
            Value::UInt(u64::MAX),
            Value::Int(-1),
            Value::Int(-33),
            Value::Int(-200),
            Value::Int(-70_000),
            Value::Int(i64::MIN),
            Value::F32(1.5),
            Value::F64(-2.25),
            Value::Str("x".repeat(40)),
            Value::Str("é".repeat(200)),
            Value::Bin(vec![7; 300]),
            Value::Bin(vec![1; 70_000]),
            Value::Array((0..20).map(Value::UInt).collect()),
            Value::map(vec![
                ("t", Value::Str("obs".into())),
                ("seq", Value::UInt(3)),
            ]),
        ] {
            round(v);
        }
    }

    #[test]
    fn hostile_lengths_allocate_nothing() {
        // An array, a map, a string and a bin claiming 4 G items in a 6-byte message.
        for b in [
            vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0x00],
            vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0x00],
            vec![0xdb, 0xff, 0xff, 0xff, 0xff, 0x00],
            vec![0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
        ] {
            assert!(
                matches!(decode(&b), Err(DecodeError::Length { .. })),
                "{b:02x?}"
            );
        }
        // Deep nesting.
        let deep = vec![0x91; 10_000];
        assert_eq!(decode(&deep), Err(DecodeError::Depth));
        // Truncation, trailing bytes, ext types, bad UTF-8.
        assert!(matches!(
            decode(&[0xcd, 0x01]),
            Err(DecodeError::Truncated(_))
        ));
        assert_eq!(decode(&[0x01, 0x02]), Err(DecodeError::Trailing(1)));
        assert!(matches!(
            decode(&[0xd4, 0, 0]),
            Err(DecodeError::Type { .. })
        ));
        assert_eq!(decode(&[0xa1, 0xff]), Err(DecodeError::Utf8(1)));
        assert!(matches!(decode(&[]), Err(DecodeError::Truncated(_))));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 64) as usize;
            let bytes: Vec<u8> = (0..n).map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8).collect();
            let _ = decode(&bytes);
        }
    }
}
