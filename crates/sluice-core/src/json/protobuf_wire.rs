//! Reading Protobuf's wire format: varints, fixed-width values and
//! length-delimited fields, each taken off the front of the input.

pub(super) fn varint(input: &mut &[u8]) -> Result<u64, String> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some((&byte, rest)) = input.split_first() else {
            return Err("truncated varint".to_owned());
        };
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".to_owned())
}

pub(super) fn fixed<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], String> {
    if input.len() < N {
        return Err(format!("truncated: {N} bytes needed, {} left", input.len()));
    }
    let (head, rest) = input.split_at(N);
    *input = rest;
    Ok(head.try_into().expect("split at N"))
}

pub(super) fn length_delimited<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = usize::try_from(varint(input)?).map_err(|_| "length out of range")?;
    if input.len() < len {
        return Err(format!(
            "truncated: {len} bytes announced, {} left",
            input.len()
        ));
    }
    let (head, rest) = input.split_at(len);
    *input = rest;
    Ok(head)
}

pub(super) fn skip(input: &mut &[u8], wire_type: u8) -> Result<(), String> {
    match wire_type {
        0 => varint(input).map(drop),
        1 => fixed::<8>(input).map(drop),
        2 => length_delimited(input).map(drop),
        5 => fixed::<4>(input).map(drop),
        other => Err(format!("unsupported wire type {other}")),
    }
}
