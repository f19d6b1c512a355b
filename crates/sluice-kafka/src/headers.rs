//! Record headers as bytes, read and written without a way to panic.
//!
//! Kafka header names are bytes on the wire, and brokers do not check them:
//! any client can write a name that is not UTF-8. rust-rdkafka's
//! `Headers::iter`, `get` and `try_get` turn the name into `&str` with
//! `unwrap()`, so one such record panics whatever reads it — on a
//! consumer's poll thread, again for every member that takes the partition.
//! Everything in sluice that reads headers of records from a broker goes
//! through [`read`] instead, and everything that copies them through
//! [`insert`], so a name of any bytes is kept as it was.

use std::ffi::{CStr, c_char, c_void};
use std::ptr;

use rdkafka::bindings as rdsys;
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};

/// One header: its name and value as stored, `None` for a null value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    pub name: &'a [u8],
    pub value: Option<&'a [u8]>,
}

impl<'a> RawHeader<'a> {
    /// The name, when it is UTF-8.
    pub fn name_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.name).ok()
    }
}

/// Header collections whose native list can be read: the headers of a
/// consumed message and headers built for sending.
pub trait AsRawHeaders {
    fn as_raw(&self) -> &BorrowedHeaders;
}

impl AsRawHeaders for BorrowedHeaders {
    fn as_raw(&self) -> &BorrowedHeaders {
        self
    }
}

impl AsRawHeaders for OwnedHeaders {
    fn as_raw(&self) -> &BorrowedHeaders {
        self.as_borrowed()
    }
}

/// The headers in record order, names as bytes.
///
/// librdkafka keeps a name NUL-terminated, so a name is read up to its
/// first NUL byte.
pub fn read<H: AsRawHeaders + ?Sized>(headers: &H) -> impl Iterator<Item = RawHeader<'_>> {
    let native = native(headers.as_raw());
    // SAFETY: `native` points to the header list that `headers` keeps
    // alive for the iterator's lifetime.
    let count = unsafe { rdsys::rd_kafka_header_cnt(native) };
    (0..count).map_while(move |index| header_at(native, index))
}

/// The headers of a message; none when it has no header list.
pub fn of_message<'a, M>(message: &'a M) -> impl Iterator<Item = RawHeader<'a>>
where
    M: rdkafka::Message,
    M::Headers: AsRawHeaders,
{
    message.headers().into_iter().flat_map(read)
}

/// Adds a header whose name is any bytes.
pub fn insert(headers: OwnedHeaders, name: &[u8], value: Option<&[u8]>) -> OwnedHeaders {
    let native = native(headers.as_borrowed()).cast_mut();
    let (value_ptr, value_len) = match value {
        Some(value) => (value.as_ptr().cast::<c_void>(), value.len() as isize),
        None => (ptr::null(), 0),
    };
    // SAFETY: `headers` is owned here, so nothing else reads or writes the
    // list while librdkafka appends to it; librdkafka copies `name_len`
    // bytes of the name and `value_len` bytes of the value. The list is
    // writable: `OwnedHeaders` are created by `rd_kafka_headers_new` or
    // copied by `rd_kafka_headers_copy`, never read-only.
    let error = unsafe {
        rdsys::rd_kafka_header_add(
            native,
            name.as_ptr().cast::<c_char>(),
            name.len() as isize,
            value_ptr,
            value_len,
        )
    };
    // Only a read-only list is refused, which an `OwnedHeaders` never is.
    let _ = error;
    headers
}

/// The native list behind `headers`: `BorrowedHeaders` is the list's
/// address under another type (how rust-rdkafka reads it too).
fn native(headers: &BorrowedHeaders) -> *const rdsys::rd_kafka_headers_t {
    ptr::from_ref(headers).cast::<rdsys::rd_kafka_headers_t>()
}

fn header_at<'a>(native: *const rdsys::rd_kafka_headers_t, index: usize) -> Option<RawHeader<'a>> {
    let mut name: *const c_char = ptr::null();
    let mut value: *const c_void = ptr::null();
    let mut size = 0usize;
    // SAFETY: `native` is a live header list; the out-pointers are valid.
    let error =
        unsafe { rdsys::rd_kafka_header_get_all(native, index, &mut name, &mut value, &mut size) };
    if error != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
        return None;
    }
    // SAFETY: librdkafka returns a NUL-terminated name and a value of
    // `size` bytes (or null), both owned by the list, which outlives 'a.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    let value =
        (!value.is_null()).then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) });
    Some(RawHeader { name, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_any_bytes_round_trip_in_order() {
        let headers = OwnedHeaders::new();
        let headers = insert(headers, b"ok", Some(b"1"));
        let headers = insert(headers, b"\xff\xfe name", Some(b"\x00\xff"));
        let headers = insert(headers, b"dup", Some(b"a"));
        let headers = insert(headers, b"dup", Some(b""));
        let headers = insert(headers, b"null", None);
        let read: Vec<_> = read(&headers).map(|h| (h.name, h.value)).collect();
        assert_eq!(
            read,
            [
                (&b"ok"[..], Some(&b"1"[..])),
                (b"\xff\xfe name", Some(b"\x00\xff")),
                (b"dup", Some(b"a")),
                (b"dup", Some(b"")),
                (b"null", None),
            ]
        );
        let names: Vec<_> = super::read(&headers).map(|h| h.name_str()).collect();
        assert_eq!(names[1], None);
        assert_eq!(names[0], Some("ok"));
    }

    #[test]
    fn an_empty_list_reads_empty() {
        assert_eq!(read(&OwnedHeaders::new()).count(), 0);
    }
}
