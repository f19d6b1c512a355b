//! The kafkajs harness: what a foreign client writes arrives byte for byte,
//! hostile bytes included, as librdkafka reads it.

use anyhow::{Context, ensure};
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use sluice_testkit::{
    ForeignRecord, Kafkajs, Tansu, create_topic, foreign_header as header, read_topic,
};

type RawHeaders = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Every header of `record`, in order, names as bytes (rust-rdkafka's own
/// iterator panics on a name that is not UTF-8).
fn raw_headers(record: &OwnedMessage) -> RawHeaders {
    sluice_kafka::headers::of_message(record)
        .map(|h| (h.name.to_vec(), h.value.map(<[u8]>::to_vec)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kafkajs_writes_arbitrary_bytes_that_librdkafka_reads_back() -> anyhow::Result<()> {
    let kafkajs = Kafkajs::new()?;
    let tansu = Tansu::start().await?;
    let bootstrap = tansu.bootstrap_servers();
    create_topic(&bootstrap, "foreign", 2).await?;

    let hostile = ForeignRecord {
        partition: 1,
        key: Some(vec![0xff, 0x00, 0xfe]),
        // Invalid UTF-8: a lone continuation byte, a truncated sequence, 0xff.
        value: Some(vec![b'v', 0x80, 0xe2, 0x82, 0xff, 0x00]),
        headers: vec![
            header(b"ok", Some(b"1")),
            header(b"\xff\xfename", Some(b"\x00\xff")),
            header(b"dup", Some(b"a")),
            header(b"dup", Some(b"b")),
            header(b"nullvalue", None),
        ],
    };
    let plain = ForeignRecord {
        partition: 0,
        key: None,
        value: Some(b"plain".to_vec()),
        headers: Vec::new(),
    };
    let tombstone = ForeignRecord {
        partition: 1,
        key: Some(b"gone".to_vec()),
        value: None,
        headers: vec![header(b"", Some(b""))],
    };
    let sent = [plain, hostile, tombstone];
    let offsets = kafkajs.produce(&bootstrap, "foreign", &sent).await?;
    ensure!(offsets == [(0, 0), (1, 0), (1, 1)], "{offsets:?}");

    let mut got =
        tokio::task::spawn_blocking(move || read_topic(&bootstrap, "foreign", 3)).await??;
    got.sort_by_key(|m| (m.partition(), m.offset()));
    for (record, (partition, offset)) in got.iter().zip(offsets) {
        ensure!((record.partition(), record.offset()) == (partition, offset));
    }
    for (record, want) in got.iter().zip(&sent) {
        let at = format!("{}@{}", record.partition(), record.offset());
        ensure!(record.partition() == want.partition, "{at}: partition");
        ensure!(
            record.key() == want.key.as_deref(),
            "{at}: key {:?}",
            record.key()
        );
        ensure!(
            record.payload() == want.value.as_deref(),
            "{at}: value {:?}",
            record.payload()
        );
        let headers = raw_headers(record);
        ensure!(headers == want.headers, "{at}: headers {headers:?}");
    }
    let tombstone = got.last().context("no records")?;
    ensure!(tombstone.payload().is_none(), "the tombstone has a value");
    Ok(())
}
