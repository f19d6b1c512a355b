//! What the test brokers support through rdkafka, feature by feature. Each
//! test asserts the outcome that docs/brokers.md records, so a change in a
//! broker fails here until the table is updated.

use std::time::Duration;

use anyhow::{Context, ensure};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sluice_testkit::{BrokerKind, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(20);

fn producer(broker: &TestBroker, extra: &[(&str, &str)]) -> anyhow::Result<FutureProducer> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker.bootstrap_servers());
    for (k, v) in extra {
        config.set(*k, *v);
    }
    Ok(config.create()?)
}

fn consumer(
    broker: &TestBroker,
    group: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<StreamConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    Ok(config.create()?)
}

async fn produce_n(p: &FutureProducer, topic: &str, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        let payload = format!("value-{i}");
        let key = format!("key-{}", i % 4);
        p.send(FutureRecord::to(topic).key(&key).payload(&payload), TIMEOUT)
            .await
            .map_err(|(e, _)| e)?;
    }
    Ok(())
}

async fn consume_n(c: &StreamConsumer, n: usize) -> anyhow::Result<Vec<String>> {
    let mut values = Vec::new();
    while values.len() < n {
        let m = tokio::time::timeout(TIMEOUT, c.recv())
            .await
            .context("timed out consuming")??;
        values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
    }
    Ok(values)
}

async fn check_compression(kind: BrokerKind, codec: &str) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    let topic = format!("compressed-{codec}");
    broker.create_topic(&topic, 1).await?;
    let p = producer(&broker, &[("compression.type", codec), ("linger.ms", "20")])?;
    let sends: Vec<_> = (0..50)
        .map(|i| {
            let payload = format!("compressible value {i} ").repeat(20);
            p.send_result(FutureRecord::<(), _>::to(&topic).payload(&payload))
                .map_err(|(e, _)| e)
        })
        .collect::<Result<_, _>>()?;
    for s in sends {
        s.await?.map_err(|(e, _)| e)?;
    }
    let c = consumer(&broker, "compression", &[])?;
    c.subscribe(&[&topic])?;
    let values = consume_n(&c, 50).await?;
    ensure!(values[49] == "compressible value 49 ".repeat(20));
    Ok(())
}

async fn check_headers(kind: BrokerKind) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("headers", 1).await?;
    let p = producer(&broker, &[])?;
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "ce_id",
            value: Some("1"),
        })
        .insert(Header {
            key: "empty",
            value: None::<&str>,
        })
        .insert(Header {
            key: "ce_id",
            value: Some("2"),
        });
    p.send(
        FutureRecord::<(), _>::to("headers")
            .payload("v")
            .headers(headers),
        TIMEOUT,
    )
    .await
    .map_err(|(e, _)| e)?;
    let c = consumer(&broker, "headers", &[])?;
    c.subscribe(&["headers"])?;
    let m = tokio::time::timeout(TIMEOUT, c.recv()).await??;
    let got: Vec<(String, Option<Vec<u8>>)> = m
        .headers()
        .context("headers")?
        .iter()
        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
        .collect();
    ensure!(
        got == [
            ("ce_id".to_owned(), Some(b"1".to_vec())),
            ("empty".to_owned(), None),
            ("ce_id".to_owned(), Some(b"2".to_vec()))
        ],
        "{got:?}"
    );
    Ok(())
}

async fn check_group_commits(kind: BrokerKind) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("commits", 2).await?;
    let p = producer(&broker, &[])?;
    produce_n(&p, "commits", 20).await?;
    let first = consumer(&broker, "g", &[])?;
    first.subscribe(&["commits"])?;
    consume_n(&first, 20).await?;
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("commits", 0, Offset::Offset(3))?;
    offsets.add_partition_offset("commits", 1, Offset::Offset(4))?;
    first.commit(&offsets, CommitMode::Sync)?;
    first.unsubscribe();
    drop(first);
    let second = consumer(&broker, "g", &[])?;
    let committed = second.committed_offsets(
        {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition("commits", 0);
            tpl.add_partition("commits", 1);
            tpl
        },
        TIMEOUT,
    )?;
    let got: Vec<_> = committed.elements().iter().map(|e| e.offset()).collect();
    ensure!(got == [Offset::Offset(3), Offset::Offset(4)], "{got:?}");
    second.subscribe(&["commits"])?;
    let resumed = consume_n(&second, 20 - 7).await?;
    ensure!(resumed.len() == 13);
    Ok(())
}

async fn check_idempotence(kind: BrokerKind) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("idempotent", 3).await?;
    let p = producer(&broker, &[("enable.idempotence", "true"), ("acks", "all")])?;
    produce_n(&p, "idempotent", 100).await?;
    let c = consumer(&broker, "idem", &[])?;
    c.subscribe(&["idempotent"])?;
    let mut values = consume_n(&c, 100).await?;
    values.sort();
    values.dedup();
    ensure!(values.len() == 100);
    Ok(())
}

async fn check_transactions(kind: BrokerKind) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("txn", 1).await?;
    let p = producer(
        &broker,
        &[
            ("transactional.id", "sluice-compat"),
            ("transaction.timeout.ms", "10000"),
        ],
    )?;
    p.init_transactions(TIMEOUT)?;
    p.begin_transaction()?;
    produce_n(&p, "txn", 5).await?;
    p.commit_transaction(TIMEOUT)?;
    let c = consumer(&broker, "txn", &[("isolation.level", "read_committed")])?;
    c.subscribe(&["txn"])?;
    consume_n(&c, 5).await?;
    Ok(())
}

/// What a `read_committed` consumer reads of an aborted transaction and
/// then a committed one (one record each).
async fn read_committed_after_an_abort(kind: BrokerKind) -> anyhow::Result<Vec<String>> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("txn-abort", 1).await?;
    let p = producer(&broker, &[("transactional.id", "sluice-compat-abort")])?;
    p.init_transactions(TIMEOUT)?;
    p.begin_transaction()?;
    produce_n(&p, "txn-abort", 1).await?;
    p.abort_transaction(TIMEOUT)?;
    p.begin_transaction()?;
    produce_n(&p, "txn-abort", 1).await?;
    p.commit_transaction(TIMEOUT)?;
    let c = consumer(
        &broker,
        "txn-abort",
        &[("isolation.level", "read_committed")],
    )?;
    c.subscribe(&["txn-abort"])?;
    let mut seen = Vec::new();
    // Everything the consumer is given until three quiet seconds after the
    // first record.
    let mut wait = TIMEOUT;
    while let Ok(message) = tokio::time::timeout(wait, c.recv()).await {
        let message = message?;
        seen.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
        wait = Duration::from_secs(3);
    }
    Ok(seen)
}

/// The offset of the first record at or after a time in the middle of the
/// topic, found with ListOffsets by timestamp; returns what the broker said.
async fn offset_for_middle_time(kind: BrokerKind) -> anyhow::Result<Offset> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("times", 1).await?;
    let p = producer(&broker, &[])?;
    produce_n(&p, "times", 5).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let middle = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    tokio::time::sleep(Duration::from_millis(100)).await;
    produce_n(&p, "times", 5).await?;
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "times")
        .create()?;
    let (low, high) = c.fetch_watermarks("times", 0, TIMEOUT)?;
    ensure!((low, high) == (0, 10), "watermarks {low} {high}");
    let mut query = TopicPartitionList::new();
    query.add_partition_offset("times", 0, Offset::Offset(middle))?;
    let found = c.offsets_for_times(query, TIMEOUT)?;
    Ok(found.elements()[0].offset())
}

async fn check_offsets_for_times(kind: BrokerKind) -> anyhow::Result<()> {
    let offset = offset_for_middle_time(kind).await?;
    ensure!(offset == Offset::Offset(5), "{offset:?}");
    Ok(())
}

async fn check_cooperative_sticky(kind: BrokerKind) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("coop", 4).await?;
    let p = producer(&broker, &[])?;
    produce_n(&p, "coop", 40).await?;
    let strategy = [("partition.assignment.strategy", "cooperative-sticky")];
    let a = consumer(&broker, "coop", &strategy)?;
    a.subscribe(&["coop"])?;
    consume_n(&a, 40).await?;
    ensure!(a.assignment()?.count() == 4);
    Ok(())
}

/// Produces 1000 records in one batch and one more in a second batch, then
/// reads from offset 500 (inside the first batch) and returns the offset of
/// the first record the broker hands back.
async fn first_offset_read_inside_a_batch(kind: BrokerKind) -> anyhow::Result<i64> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("batched", 1).await?;
    let p = producer(
        &broker,
        &[("linger.ms", "200"), ("batch.num.messages", "10000")],
    )?;
    let sends: Vec<_> = (0..1000)
        .map(|i| {
            let payload = format!("value-{i}");
            p.send_result(FutureRecord::<str, str>::to("batched").payload(&payload))
                .map_err(|(e, _)| e)
        })
        .collect::<Result<_, _>>()?;
    for send in sends {
        send.await?.map_err(|(e, _)| e)?;
    }
    produce_n(&p, "batched", 1).await?;
    let c = consumer(&broker, "batched", &[])?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("batched", 0, Offset::Offset(500))?;
    c.assign(&list)?;
    let first = tokio::time::timeout(TIMEOUT, c.recv())
        .await
        .context("timed out consuming")??;
    Ok(first.offset())
}

/// Produces one record, then 1000 in one batch, and returns the high
/// watermark the broker reports (ListOffsets, latest).
async fn high_watermark_after_batches(kind: BrokerKind) -> anyhow::Result<i64> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("marks", 1).await?;
    let p = producer(
        &broker,
        &[("linger.ms", "200"), ("batch.num.messages", "10000")],
    )?;
    produce_n(&p, "marks", 1).await?;
    let sends: Vec<_> = (0..1000)
        .map(|i| {
            let payload = format!("value-{i}");
            p.send_result(FutureRecord::<str, str>::to("marks").payload(&payload))
                .map_err(|(e, _)| e)
        })
        .collect::<Result<_, _>>()?;
    for send in sends {
        send.await?.map_err(|(e, _)| e)?;
    }
    let c = consumer(&broker, "marks", &[])?;
    let (low, high) = c.fetch_watermarks("marks", 0, TIMEOUT)?;
    ensure!(low == 0, "low watermark {low}");
    // The end as a reader finds it: librdkafka's partition EOF.
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "marks-eof")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("marks", 0, Offset::Beginning)?;
    reader.assign(&list)?;
    let mut read = 0;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        ensure!(
            std::time::Instant::now() < deadline,
            "no EOF after {read} records"
        );
        match reader.poll(Duration::from_millis(100)) {
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(_)) => read += 1,
            None => {}
        }
    }
    ensure!(
        read == 1001,
        "partition EOF after {read} records, expected 1001"
    );
    Ok(high)
}

macro_rules! on_both {
    ($($name:ident => $check:ident($($arg:expr),*);)*) => {
        mod mock {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() -> anyhow::Result<()> {
                $check(BrokerKind::Mock $(, $arg)*).await
            })*
        }
        mod tansu {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() -> anyhow::Result<()> {
                $check(BrokerKind::Tansu $(, $arg)*).await
            })*
        }
    };
}

on_both! {
    compression_gzip => check_compression("gzip");
    compression_snappy => check_compression("snappy");
    compression_lz4 => check_compression("lz4");
    compression_zstd => check_compression("zstd");
    record_headers => check_headers();
    consumer_group_commits => check_group_commits();
    idempotent_producer => check_idempotence();
    cooperative_sticky_assignment => check_cooperative_sticky();
}

// Features the brokers differ on.

#[tokio::test(flavor = "multi_thread")]
async fn mock_transactions() -> anyhow::Result<()> {
    check_transactions(BrokerKind::Mock).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_gives_read_committed_consumers_aborted_records() -> anyhow::Result<()> {
    let seen = read_committed_after_an_abort(BrokerKind::Mock).await?;
    ensure!(
        seen.len() == 2,
        "the mock cluster now hides aborted records ({seen:?}); update docs/brokers.md"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tansu_lacks_transactions() -> anyhow::Result<()> {
    let err = check_transactions(BrokerKind::Tansu)
        .await
        .expect_err("Tansu 0.6.0 has no EndTxn; update docs/brokers.md if this passes");
    ensure!(
        err.to_string()
            .contains("EndTxnRequest (KIP-98) not supported"),
        "{err:#}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_reads_from_inside_a_batch() -> anyhow::Result<()> {
    let first = first_offset_read_inside_a_batch(BrokerKind::Mock).await?;
    ensure!(first == 500, "asked for offset 500, got {first} first");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tansu_skips_the_rest_of_a_batch_read_from_inside() -> anyhow::Result<()> {
    let first = first_offset_read_inside_a_batch(BrokerKind::Tansu).await?;
    ensure!(
        first == 1000,
        "Tansu 0.6.0 answers a fetch from inside a batch with the next batch; \
         got offset {first} first: update docs/brokers.md"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tansu_offsets_for_times() -> anyhow::Result<()> {
    check_offsets_for_times(BrokerKind::Tansu).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_lacks_offsets_for_times() -> anyhow::Result<()> {
    let offset = offset_for_middle_time(BrokerKind::Mock).await?;
    ensure!(
        offset == Offset::End,
        "the mock cluster answered {offset:?}; update docs/brokers.md"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_high_watermark_after_batches() -> anyhow::Result<()> {
    let high = high_watermark_after_batches(BrokerKind::Mock).await?;
    ensure!(high == 1001, "high watermark {high}, expected 1001");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tansu_reports_the_last_batchs_base_offset_as_high_watermark() -> anyhow::Result<()> {
    let high = high_watermark_after_batches(BrokerKind::Tansu).await?;
    ensure!(
        high == 2,
        "Tansu 0.6.0 answers ListOffsets (latest) with the last batch's base offset + 1; \
         got {high} for 1001 records: update docs/brokers.md"
    );
    Ok(())
}
