//! Reading LEB128 varints, as Protobuf, Avro and Confluent's message
//! indexes write them, with prost's decoder. prost reports every bad varint
//! as "invalid varint"; callers here need to tell one cut short by the end
//! of the input from one that runs too long, so [`read`] says which.
//!
//! Writing needs nothing beyond prost: `prost::encoding::encode_varint`.

/// The longest varint: 64 bits in groups of 7.
const MAX_LEN: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ends inside the varint.
    Truncated,
    /// Longer than 10 bytes, or more than 64 bits.
    TooLong,
}

impl std::fmt::Display for VarintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VarintError::Truncated => "truncated varint",
            VarintError::TooLong => "varint longer than 10 bytes or 64 bits",
        })
    }
}

/// Reads an unsigned varint off the front of `input`.
pub(crate) fn read(input: &mut &[u8]) -> Result<u64, VarintError> {
    let start = *input;
    prost::encoding::decode_varint(input).map_err(|_| {
        // Every byte has its continuation bit set and the input ends before
        // a varint could be too long: it was cut short.
        if start.len() < MAX_LEN && start.iter().all(|b| b & 0x80 != 0) {
            VarintError::Truncated
        } else {
            VarintError::TooLong
        }
    })
}

/// Protobuf's `sint64` and Avro's `long`: zigzag over an unsigned varint.
pub(crate) fn zigzag_decode(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

pub(crate) fn zigzag_encode(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_prost_writes() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            prost::encoding::encode_varint(value, &mut out);
            let mut input = out.as_slice();
            assert_eq!(read(&mut input), Ok(value));
            assert!(input.is_empty());
        }
    }

    #[test]
    fn cut_short_and_too_long_are_told_apart() {
        assert_eq!(read(&mut &[][..]), Err(VarintError::Truncated));
        assert_eq!(read(&mut &[0x80, 0x80][..]), Err(VarintError::Truncated));
        assert_eq!(read(&mut &[0xff; 11][..]), Err(VarintError::TooLong));
        assert_eq!(read(&mut &[0xff; 10][..]), Err(VarintError::TooLong));
        // Ten bytes whose last carries bits past 64.
        let mut past_64 = [0xff; 10];
        past_64[9] = 0x02;
        assert_eq!(read(&mut &past_64[..]), Err(VarintError::TooLong));
    }

    #[test]
    fn zigzag_maps_small_magnitudes_to_small_numbers() {
        for (signed, unsigned) in [(0, 0), (-1, 1), (1, 2), (-2, 3), (i64::MIN, u64::MAX)] {
            assert_eq!(zigzag_encode(signed), unsigned);
            assert_eq!(zigzag_decode(unsigned), signed);
        }
    }
}
