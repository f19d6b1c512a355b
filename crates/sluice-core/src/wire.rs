//! The Confluent Schema Registry wire format.
//!
//! ```text
//! byte 0      magic byte, always 0
//! bytes 1..5  schema id, 32-bit big-endian
//! Protobuf:   message indexes (zigzag varints: count, then one index per
//!             nesting level; the common case [0] is the single byte 0)
//! then        the Avro datum or Protobuf message
//! ```
//!
//! This is what Confluent's serializers for Java, Go and Python write and
//! read, so records from sluice can be consumed by them and vice versa.

use crate::error::DecodeError;
use crate::varint::{self, VarintError};

/// The first byte of every framed payload.
pub const MAGIC_BYTE: u8 = 0;
/// Magic byte plus schema id.
pub const HEADER_LEN: usize = 5;
/// The deepest message nesting a Protobuf frame may name.
///
/// Confluent's format allows any depth; real schemas nest a few levels, and a
/// bound keeps a corrupt count from turning into a large allocation.
pub const MAX_MESSAGE_DEPTH: usize = 16;

/// Appends the magic byte and schema id.
pub fn write_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// A framed payload split into its schema id and the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub schema_id: u32,
    /// Everything after the 5-byte header (message indexes included for
    /// Protobuf).
    pub body: &'a [u8],
}

/// Splits a record value into schema id and body.
pub fn read_header(bytes: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let Some((&magic, rest)) = bytes.split_first() else {
        return Err(DecodeError::Empty);
    };
    if magic != MAGIC_BYTE {
        return Err(DecodeError::WrongMagicByte { found: magic });
    }
    let Some((id, body)) = rest.split_first_chunk::<4>() else {
        return Err(DecodeError::Truncated {
            len: bytes.len(),
            needed: HEADER_LEN,
            part: "schema id",
        });
    };
    Ok(Frame {
        schema_id: u32::from_be_bytes(*id),
        body,
    })
}

/// Message indexes read from a Protobuf frame: the path from the file's
/// top-level messages to the message the payload holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MessageIndexes {
    len: usize,
    indexes: [i32; MAX_MESSAGE_DEPTH],
}

impl MessageIndexes {
    pub fn as_slice(&self) -> &[i32] {
        &self.indexes[..self.len]
    }
}

impl std::fmt::Debug for MessageIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// Appends Confluent's message-index list.
pub fn write_message_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    // A list's length always fits: message nesting is bounded by the schema.
    write_zigzag(indexes.len() as i32, out);
    for &index in indexes {
        write_zigzag(index, out);
    }
}

/// Reads Confluent's message-index list and returns it with the bytes after it.
pub fn read_message_indexes(body: &[u8]) -> Result<(MessageIndexes, &[u8]), DecodeError> {
    let mut rest = body;
    let count = read_zigzag(&mut rest, body.len())?;
    let mut indexes = MessageIndexes {
        len: 1,
        indexes: [0; MAX_MESSAGE_DEPTH],
    };
    if count == 0 {
        return Ok((indexes, rest));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|&c| c <= MAX_MESSAGE_DEPTH)
        .ok_or_else(|| DecodeError::Malformed {
            format: crate::Format::Protobuf,
            subject: "message indexes".into(),
            len: body.len(),
            reason: format!("message index count {count} is not between 0 and {MAX_MESSAGE_DEPTH}"),
        })?;
    indexes.len = count;
    for slot in &mut indexes.indexes[..count] {
        *slot = read_zigzag(&mut rest, body.len())?;
    }
    Ok((indexes, rest))
}

fn write_zigzag(value: i32, out: &mut Vec<u8>) {
    // In range, zigzag over 64 bits is the 32-bit zigzag Confluent writes.
    prost::encoding::encode_varint(varint::zigzag_encode(i64::from(value)), out);
}

/// Confluent writes message indexes as 32-bit varints: at most 5 bytes.
const MAX_INDEX_LEN: usize = 5;

fn read_zigzag(input: &mut &[u8], frame_len: usize) -> Result<i32, DecodeError> {
    let too_long = || DecodeError::Malformed {
        format: crate::Format::Protobuf,
        subject: "message indexes".into(),
        len: frame_len,
        reason: format!("varint longer than {MAX_INDEX_LEN} bytes"),
    };
    let start = *input;
    match varint::read(input) {
        // As Confluent's reader does, bits past 32 are dropped.
        Ok(n) if start.len() - input.len() <= MAX_INDEX_LEN => {
            Ok(varint::zigzag_decode(u64::from(n as u32)) as i32)
        }
        Err(VarintError::Truncated) if start.len() < MAX_INDEX_LEN => Err(DecodeError::Truncated {
            len: frame_len,
            needed: frame_len + 1,
            part: "message indexes",
        }),
        // Longer than 5 bytes, whether or not the input ends inside it.
        Ok(_) | Err(_) => Err(too_long()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_magic_then_big_endian_id() {
        let mut out = Vec::new();
        write_header(0x0102_0304, &mut out);
        assert_eq!(out, [0, 1, 2, 3, 4]);
        let frame = read_header(&[0, 0, 0, 1, 0x2c, 0xaa]).expect("valid frame");
        assert_eq!(frame.schema_id, 300);
        assert_eq!(frame.body, [0xaa]);
    }

    #[test]
    fn header_errors_are_typed() {
        assert_eq!(read_header(&[]), Err(DecodeError::Empty));
        assert_eq!(
            read_header(&[1, 0, 0, 0, 1]),
            Err(DecodeError::WrongMagicByte { found: 1 })
        );
        assert!(matches!(
            read_header(&[0, 0, 1]),
            Err(DecodeError::Truncated {
                len: 3,
                needed: 5,
                ..
            })
        ));
    }

    // Byte sequences as Confluent's MessageIndexes.toByteArray writes them.
    #[test]
    fn message_indexes_match_confluent() {
        let cases: &[(&[i32], &[u8])] = &[
            (&[0], &[0x00]),
            (&[1], &[0x02, 0x02]),
            (&[0, 2], &[0x04, 0x00, 0x04]),
            (&[70], &[0x02, 0x8c, 0x01]),
        ];
        for (indexes, bytes) in cases {
            let mut out = Vec::new();
            write_message_indexes(indexes, &mut out);
            assert_eq!(out, *bytes, "writing {indexes:?}");
            let (read, rest) = read_message_indexes(bytes).expect("valid indexes");
            assert_eq!(read.as_slice(), *indexes);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn message_index_errors_are_typed() {
        assert!(matches!(
            read_message_indexes(&[]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            read_message_indexes(&[0x04, 0x00]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            read_message_indexes(&[0x7e]),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(matches!(
            read_message_indexes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::Malformed { .. })
        ));
        // Cut short inside the count, and five bytes that do not end it.
        assert!(matches!(
            read_message_indexes(&[0x80, 0x80]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            read_message_indexes(&[0x80, 0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
