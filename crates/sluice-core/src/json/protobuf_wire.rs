//! Reading Protobuf's wire format: varints, fixed-width values and
//! length-delimited fields, each taken off the front of the input.

pub(super) fn varint(input: &mut &[u8]) -> Result<u64, String> {
    crate::varint::read(input).map_err(|e| e.to_string())
}

pub(super) fn fixed<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], String> {
    let Some((head, rest)) = input.split_first_chunk::<N>() else {
        return Err(format!("truncated: {N} bytes needed, {} left", input.len()));
    };
    *input = rest;
    Ok(*head)
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
