//! The Protocol Buffers wire format, encoding only: varints, fixed 32-bit floats,
//! length-delimited fields (strings, bytes, nested messages) and packed repeated scalars.
//!
//! A field is a key `(field_number << 3) | wire_type` as a varint, then its payload. Nested
//! messages are encoded into their own buffer first, so that their length can prefix them.

/// Wire type of varint payloads (`int32`, `int64`, enums).
const VARINT: u32 = 0;
/// Wire type of length-delimited payloads (strings, bytes, messages, packed repeated).
const LEN: u32 = 2;
/// Wire type of fixed 32-bit payloads (`float`).
const I32: u32 = 5;

/// Appends `v` as a base-128 varint: seven bits per byte, least significant group first, the high
/// bit set on every byte but the last.
pub(crate) fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A protobuf message being encoded.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty message.
    pub(crate) fn new() -> Writer {
        Writer::default()
    }

    /// The encoded bytes.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn key(&mut self, field: u32, wire_type: u32) {
        varint(&mut self.buf, u64::from(field << 3 | wire_type));
    }

    /// An `int64`/`int32`/enum field. Negative values take ten bytes (two's complement), as
    /// protobuf encodes them.
    pub(crate) fn int64(&mut self, field: u32, v: i64) {
        self.key(field, VARINT);
        varint(&mut self.buf, v as u64);
    }

    /// A `float` field: four little-endian bytes.
    pub(crate) fn float(&mut self, field: u32, v: f32) {
        self.key(field, I32);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `bytes` field.
    pub(crate) fn bytes(&mut self, field: u32, v: &[u8]) {
        self.key(field, LEN);
        varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A `string` field (UTF-8 bytes).
    pub(crate) fn string(&mut self, field: u32, v: &str) {
        self.bytes(field, v.as_bytes());
    }

    /// A nested message field, written by `body`.
    pub(crate) fn message(&mut self, field: u32, body: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::new();
        body(&mut inner);
        self.bytes(field, &inner.buf);
    }

    /// A repeated `int64` field, packed (one length-delimited run of varints). Nothing is written
    /// for an empty list. Parsers accept packed encoding for every repeated scalar field, declared
    /// `[packed = true]` or not.
    pub(crate) fn packed_int64(&mut self, field: u32, vs: &[i64]) {
        if vs.is_empty() {
            return;
        }
        let mut run = Vec::with_capacity(vs.len());
        for &v in vs {
            varint(&mut run, v as u64);
        }
        self.bytes(field, &run);
    }

    /// A repeated `float` field, packed (one length-delimited run of little-endian floats).
    /// Nothing is written for an empty list.
    pub(crate) fn packed_float(&mut self, field: u32, vs: &[f32]) {
        if vs.is_empty() {
            return;
        }
        let run: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(field, &run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::new();
        f(&mut w);
        w.into_bytes()
    }

    #[test]
    fn varints_match_hand_computed_bytes() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (150, &[0x96, 0x01]),
            (300, &[0xac, 0x02]),
            (16_384, &[0x80, 0x80, 0x01]),
            (u32::MAX as u64, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for &(v, want) in cases {
            let mut buf = Vec::new();
            varint(&mut buf, v);
            assert_eq!(buf, want, "{v}");
        }
    }

    #[test]
    fn scalar_fields_match_hand_computed_bytes() {
        // The protobuf documentation's example: field 1 = 150.
        assert_eq!(encoded(|w| w.int64(1, 150)), [0x08, 0x96, 0x01]);
        // Field 20 needs a two-byte key: (20 << 3) | 0 = 160.
        assert_eq!(encoded(|w| w.int64(20, 2)), [0xa0, 0x01, 0x02]);
        // Negative int64: ten bytes of two's complement.
        assert_eq!(
            encoded(|w| w.int64(3, -1)),
            [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        // float: key (2 << 3) | 5 = 0x15, then 1.0f32 little-endian.
        assert_eq!(encoded(|w| w.float(2, 1.0)), [0x15, 0x00, 0x00, 0x80, 0x3f]);
        assert_eq!(
            encoded(|w| w.float(2, -2.5)),
            [0x15, 0x00, 0x00, 0x20, 0xc0]
        );
    }

    #[test]
    fn length_delimited_fields_match_hand_computed_bytes() {
        // The documentation's example: field 2 = "testing".
        assert_eq!(
            encoded(|w| w.string(2, "testing")),
            [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']
        );
        assert_eq!(encoded(|w| w.bytes(9, &[])), [0x4a, 0x00]);
        // A nested message: field 3 holding {field 1 = 150}.
        assert_eq!(
            encoded(|w| w.message(3, |m| m.int64(1, 150))),
            [0x1a, 0x03, 0x08, 0x96, 0x01]
        );
        // A 200-byte payload takes a two-byte length.
        let long = encoded(|w| w.bytes(1, &[7; 200]));
        assert_eq!(long[..3], [0x0a, 0xc8, 0x01]);
        assert_eq!(long.len(), 203);
    }

    #[test]
    fn packed_fields_match_hand_computed_bytes() {
        // The documentation's example: field 4 = [3, 270, 86942], packed.
        assert_eq!(
            encoded(|w| w.packed_int64(4, &[3, 270, 86942])),
            [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]
        );
        assert_eq!(
            encoded(|w| w.packed_int64(8, &[-1])),
            [0x42, 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            encoded(|w| w.packed_float(7, &[1.0, -2.5])),
            [0x3a, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0]
        );
        assert!(encoded(|w| w.packed_int64(1, &[])).is_empty());
        assert!(encoded(|w| w.packed_float(7, &[])).is_empty());
    }
}
