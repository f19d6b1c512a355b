//! Records as handlers see them: copied out of the client once, in one
//! buffer.

use std::ops::Range;
use std::sync::Arc;

use rdkafka::Message as _;
use rdkafka::Timestamp;
use rdkafka::message::BorrowedMessage;
use sluice_kafka::headers::RawHeader;
use smallvec::SmallVec;

/// A record read from Kafka and owned by the runtime.
///
/// The key, the value and every header live in a single buffer, and the
/// topic name is shared by all records of a partition: copying a record
/// out of the client costs one allocation, and looking up a header is a
/// scan over byte slices.
#[derive(Debug, Clone)]
pub struct Record {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Timestamp,
    /// The key, the value, then each header's name and value.
    data: Box<[u8]>,
    key: Option<Range<u32>>,
    value: Option<Range<u32>>,
    headers: SmallVec<[HeaderAt; 8]>,
}

/// A header's name and value, borrowed.
type HeaderRef<'a> = (&'a [u8], Option<&'a [u8]>);

/// Where one header's name and value are in [`Record::data`].
#[derive(Debug, Clone)]
struct HeaderAt {
    name: Range<u32>,
    value: Option<Range<u32>>,
}

impl Record {
    /// Copies `message`, whose topic is `topic`.
    pub(crate) fn copy(message: &BorrowedMessage<'_>, topic: Arc<str>) -> Self {
        // Each header read asks the client; read them once. Names are
        // bytes: a name that is not UTF-8 is kept as it is.
        let headers: SmallVec<[HeaderRef<'_>; 8]> = sluice_kafka::headers::of_message(message)
            .map(|h| (h.name, h.value))
            .collect();
        Self::assemble(
            topic,
            message.partition(),
            message.offset(),
            message.timestamp(),
            message.key(),
            message.payload(),
            &headers,
        )
    }

    /// A record built in memory, for tests of handlers.
    pub fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> Self {
        let headers: SmallVec<[HeaderRef<'_>; 8]> = headers
            .iter()
            .map(|(name, value)| (name.as_bytes(), *value))
            .collect();
        Self::with_raw_headers(topic, partition, offset, key, value, &headers)
    }

    /// A record built in memory whose header names are any bytes.
    pub fn with_raw_headers(
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Self {
        Self::assemble(
            Arc::from(topic),
            partition,
            offset,
            Timestamp::NotAvailable,
            key,
            value,
            headers,
        )
    }

    /// Copies key, value and headers into one buffer of the exact size.
    fn assemble(
        topic: Arc<str>,
        partition: i32,
        offset: i64,
        timestamp: Timestamp,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> Self {
        let size = key.map_or(0, <[u8]>::len)
            + value.map_or(0, <[u8]>::len)
            + headers
                .iter()
                .map(|(name, value)| name.len() + value.map_or(0, <[u8]>::len))
                .sum::<usize>();
        let mut data = Vec::with_capacity(size);
        let key = key.map(|k| append(&mut data, k));
        let value = value.map(|v| append(&mut data, v));
        let headers = headers
            .iter()
            .map(|(name, value)| HeaderAt {
                name: append(&mut data, name),
                value: value.map(|v| append(&mut data, v)),
            })
            .collect();
        Self {
            topic,
            partition,
            offset,
            timestamp,
            data: data.into_boxed_slice(),
            key,
            value,
            headers,
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = timestamp;
        self
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The memory this record holds: its buffer and its own fields (the
    /// runtime's byte bounds count this).
    pub fn held_bytes(&self) -> u64 {
        (self.data.len() + std::mem::size_of::<Self>()) as u64
    }

    /// The topic name, shared with the partition's other records.
    pub(crate) fn shared_topic(&self) -> Arc<str> {
        Arc::clone(&self.topic)
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.key.clone().map(|r| self.bytes(r))
    }

    /// The value; `None` for a tombstone.
    pub fn payload(&self) -> Option<&[u8]> {
        self.value.clone().map(|r| self.bytes(r))
    }

    /// The headers in record order, names as bytes (Kafka does not require
    /// them to be UTF-8; [`RawHeader::name_str`] reads one as text).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = RawHeader<'_>> + '_ {
        self.headers.iter().map(|h| RawHeader {
            name: self.bytes(h.name.clone()),
            value: h.value.clone().map(|r| self.bytes(r)),
        })
    }

    /// The value of the last header named `name`; `None` when there is
    /// none or it has no value.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|h| self.bytes(h.name.clone()) == name.as_bytes())
            .and_then(|h| h.value.clone())
            .map(|r| self.bytes(r))
    }

    fn bytes(&self, range: Range<u32>) -> &[u8] {
        self.data
            .get(range.start as usize..range.end as usize)
            .unwrap_or_default()
    }
}

fn append(data: &mut Vec<u8>, bytes: &[u8]) -> Range<u32> {
    let start = data.len();
    data.extend_from_slice(bytes);
    // A Kafka record is at most 2 GiB (its size is an i32 on the wire).
    u32::try_from(start).unwrap_or(u32::MAX)..u32::try_from(data.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_read_back() {
        let record = Record::new(
            "orders",
            3,
            42,
            Some(b"k"),
            Some(b"value"),
            &[("a", Some(b"1")), ("b", None), ("a", Some(b"2"))],
        );
        assert_eq!(record.topic(), "orders");
        assert_eq!((record.partition(), record.offset()), (3, 42));
        assert_eq!(record.key(), Some(&b"k"[..]));
        assert_eq!(record.payload(), Some(&b"value"[..]));
        assert_eq!(record.header("a"), Some(&b"2"[..]), "the last one wins");
        assert_eq!(record.header("b"), None);
        assert_eq!(record.header("c"), None);
        let headers: Vec<_> = record.headers().map(|h| (h.name, h.value)).collect();
        assert_eq!(
            headers,
            [
                (&b"a"[..], Some(&b"1"[..])),
                (b"b", None),
                (b"a", Some(b"2"))
            ]
        );
    }

    #[test]
    fn header_names_of_any_bytes_are_kept() {
        let record = Record::with_raw_headers(
            "t",
            0,
            0,
            None,
            Some(b"v"),
            &[(b"\xff\xfe", Some(b"x")), (b"ok", Some(b"1"))],
        );
        let names: Vec<_> = record.headers().map(|h| h.name).collect();
        assert_eq!(names, [&b"\xff\xfe"[..], b"ok"]);
        assert_eq!(record.header("ok"), Some(&b"1"[..]));
    }

    #[test]
    fn tombstones_and_keyless_records() {
        let record = Record::new("t", 0, 0, None, None, &[]);
        assert_eq!(record.key(), None);
        assert_eq!(record.payload(), None);
        assert_eq!(record.headers().len(), 0);
    }
}
