//! The runtime on input and situations sluice's own clients never make:
//! records from a foreign client with hostile bytes, handlers that panic
//! before their future exists, records the DLQ refuses, patterns that
//! would match the DLQ, and a `run` future dropped by a timeout.

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use common::{config, read_topic};
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;
use sluice_consumer::{ConsumerBuilder, Context, HandlerError, RecordHandler, dlq};
use sluice_testkit::{
    ForeignRecord, Kafkajs, MockKafka, Tansu, create_topic, foreign_header as header,
};

/// What a handler saw: the record's topic, offset and header names.
type Seen = Arc<Mutex<Vec<(String, i64, Vec<Vec<u8>>)>>>;

/// Logs every record, and misbehaves on request: a value starting with
/// `panic-sync` panics before the future exists, `panic-async` inside it,
/// `fail` fails permanently.
#[derive(Clone, Default)]
struct Unruly {
    seen: Seen,
}

impl RecordHandler for Unruly {
    fn handle(&self, ctx: &Context) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let value = ctx.record().payload().unwrap_or_default().to_vec();
        assert!(
            !value.starts_with(b"panic-sync"),
            "panicked before the future"
        );
        let names = ctx.record().headers().map(|h| h.name.to_vec()).collect();
        self.seen
            .lock()
            .unwrap()
            .push((ctx.topic().to_owned(), ctx.offset(), names));
        async move {
            assert!(!value.starts_with(b"panic-async"), "panicked in the future");
            if value.starts_with(b"fail") {
                return Err(HandlerError::permanent("refused"));
            }
            Ok(())
        }
    }
}

fn text(record: &OwnedMessage, name: &str) -> Option<String> {
    common::header(record, name).ok()
}

async fn wait_until(what: &str, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        ensure!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Sends `(topic, key, value)` records one at a time, each acknowledged
/// before the next.
async fn send_plain(
    bootstrap: &str,
    records: &[(&str, Option<&str>, &[u8])],
) -> anyhow::Result<()> {
    let producer: rdkafka::producer::FutureProducer = sluice_kafka::KafkaConfig::new(bootstrap)
        .client_config()
        .create()?;
    for (topic, key, value) in records {
        let mut record = rdkafka::producer::FutureRecord::<str, [u8]>::to(topic).payload(*value);
        if let Some(key) = key {
            record = record.key(*key);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_records_with_hostile_bytes_panics_and_oversize_values_never_stop_the_partition()
-> anyhow::Result<()> {
    let kafkajs = Kafkajs::new()?;
    let tansu = Tansu::start().await?;
    let bootstrap = tansu.bootstrap_servers();
    create_topic(&bootstrap, "hostile", 1).await?;
    create_topic(&bootstrap, "hostile.dlq", 1).await?;
    let record = |value: Vec<u8>, headers: Vec<(Vec<u8>, Option<Vec<u8>>)>| ForeignRecord {
        partition: 0,
        key: Some(b"k".to_vec()),
        value: Some(value),
        headers,
    };
    let ok = || vec![header(b"ok", Some(b"1"))];
    let bad_name = || {
        vec![
            header(b"ok", Some(b"1")),
            header(b"\xff\xfe-name", Some(b"\x00\xff")),
            header(b"after", None),
        ]
    };
    let records = [
        record(b"plain".to_vec(), ok()),
        record(b"bad header name".to_vec(), bad_name()),
        record(b"panic-sync".to_vec(), ok()),
        record(b"panic-async".to_vec(), ok()),
        // Over the default max_record_bytes (1 MiB) and the DLQ's limit.
        record(vec![b'x'; 1_100_000], ok()),
        record(b"fail with bad header name".to_vec(), bad_name()),
        record(b"last".to_vec(), ok()),
    ];
    kafkajs.produce(&bootstrap, "hostile", &records).await?;

    let mut config = config(&bootstrap, "hostile-group", "hostile");
    config.dlq.max_message_bytes = 1_000_000;
    let handler = Unruly::default();
    let seen = Arc::clone(&handler.seen);
    let consumer = ConsumerBuilder::new(config).build(handler)?;
    let status = consumer.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    wait_until("every record handled or dead-lettered", || {
        status
            .lag()
            .iter()
            .any(|l| l.position == Some(records.len() as i64))
    })
    .await?;

    let handled: Vec<i64> = seen.lock().unwrap().iter().map(|s| s.1).collect();
    ensure!(handled == [0, 1, 3, 5, 6], "handler calls: {handled:?}");
    let names = seen.lock().unwrap()[1].2.clone();
    ensure!(
        names == [b"ok".to_vec(), b"\xff\xfe-name".to_vec(), b"after".to_vec()],
        "header names as bytes: {names:?}"
    );

    let dead =
        tokio::task::spawn_blocking(move || read_topic(&bootstrap, "hostile.dlq", 4)).await??;
    let classes: Vec<_> = dead
        .iter()
        .map(|r| {
            (
                text(r, dlq::headers::OFFSET),
                text(r, dlq::headers::ERROR_CLASS),
            )
        })
        .collect();
    let want = [
        ("2", "handler_panic"),
        ("3", "handler_panic"),
        ("4", "oversize_record"),
        ("5", "handler_permanent"),
    ]
    .map(|(o, c)| (Some(o.to_owned()), Some(c.to_owned())));
    ensure!(classes == want, "dead letters: {classes:?}");
    let reference = &dead[2];
    ensure!(reference.payload().is_none(), "the reference has no value");
    ensure!(
        text(reference, dlq::headers::VALUE_OMITTED).is_some(),
        "the reference says why its value is missing"
    );
    let copied: Vec<_> = sluice_kafka::headers::of_message(&dead[3])
        .map(|h| (h.name.to_vec(), h.value.map(<[u8]>::to_vec)))
        .take(3)
        .collect();
    ensure!(
        copied == bad_name(),
        "the DLQ copy keeps the header bytes: {copied:?}"
    );

    let _ = stop.send(());
    common::stopped(run).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pattern_passes_over_the_dlq_it_writes() -> anyhow::Result<()> {
    let mock = MockKafka::start(1)?;
    let bootstrap = mock.bootstrap_servers();
    for topic in ["task.a", "task.a.dlq", "task.b", "task.b.dlq"] {
        mock.create_topic(topic, 1)?;
    }
    send_plain(
        &bootstrap,
        &[
            ("task.a", None, b"fail a"),
            ("task.b", None, b"fail b"),
            ("task.a", None, b"ok"),
        ],
    )
    .await?;
    let mut config = config(&bootstrap, "tasks", "^task\\..*");
    config.pattern_refresh_ms = 200;
    let handler = Unruly::default();
    let seen = Arc::clone(&handler.seen);
    let consumer = ConsumerBuilder::new(config).build(handler)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    wait_until("three records handled", || seen.lock().unwrap().len() >= 3).await?;
    // Two dead letters are written meanwhile; a consumer that matched its
    // own DLQ would hand them to the handler (and dead-letter them again).
    let dead = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || read_topic(&bootstrap, "task.a.dlq", 1)
    })
    .await??;
    ensure!(dead.len() == 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut topics: Vec<String> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    topics.sort();
    ensure!(
        topics == ["task.a", "task.a", "task.b"],
        "records handled: {topics:?}"
    );
    let _ = stop.send(());
    common::stopped(run).await
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_run_future_stops_the_consumer() -> anyhow::Result<()> {
    let mock = MockKafka::start(1)?;
    let bootstrap = mock.bootstrap_servers();
    mock.create_topic("dropped", 1)?;
    let records: Vec<Vec<u8>> = (0..5).map(|i| format!("record {i}").into_bytes()).collect();
    let batch: Vec<(&str, Option<&str>, &[u8])> = records
        .iter()
        .map(|v| ("dropped", None, v.as_slice()))
        .collect();
    send_plain(&bootstrap, &batch).await?;
    let mut config = config(&bootstrap, "dropped-group", "dropped");
    config.shutdown_timeout_ms = 2_000;
    let handler = Unruly::default();
    let seen = Arc::clone(&handler.seen);
    let consumer = ConsumerBuilder::new(config).build(handler)?;
    let timed_out = tokio::time::timeout(
        Duration::from_secs(10),
        consumer.run(std::future::pending()),
    )
    .await;
    ensure!(timed_out.is_err(), "run returned before the timeout");
    ensure!(seen.lock().unwrap().len() == 5, "records before the drop");
    // The consumer stops in the background within its shutdown budget.
    tokio::time::sleep(Duration::from_secs(5)).await;
    send_plain(&bootstrap, &batch).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = seen.lock().unwrap().len();
    ensure!(
        after == 5,
        "{after} records handled: the consumer ran on after its future was dropped"
    );
    Ok(())
}

#[test]
fn a_dlq_limit_out_of_range_is_refused() -> anyhow::Result<()> {
    let mut config = config("127.0.0.1:9", "g", "t");
    config.dlq.max_message_bytes = 10;
    let runtime = tokio::runtime::Runtime::new()?;
    let _guard = runtime.enter();
    let error = ConsumerBuilder::new(config)
        .build(Unruly::default())
        .err()
        .context("built")?;
    ensure!(
        error.to_string().contains("dlq.max_message_bytes"),
        "{error}"
    );
    Ok(())
}

/// Holds every record until released.
#[derive(Clone)]
struct Gate {
    started: Arc<std::sync::atomic::AtomicUsize>,
    open: Arc<tokio::sync::Semaphore>,
}

impl RecordHandler for Gate {
    async fn handle(&self, _ctx: &Context) -> Result<(), HandlerError> {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _permit = self.open.acquire().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn read_ahead_is_bounded_in_bytes() -> anyhow::Result<()> {
    let mock = MockKafka::start(1)?;
    let bootstrap = mock.bootstrap_servers();
    mock.create_topic("large", 1)?;
    let value = vec![7u8; 100_000];
    // 4 MB: the mock cluster keeps 5 MB of a partition's log.
    let total = 40;
    let keys: Vec<String> = (0..total).map(|i| format!("k{i}")).collect();
    let records: Vec<(&str, Option<&str>, &[u8])> = keys
        .iter()
        .map(|k| ("large", Some(k.as_str()), value.as_slice()))
        .collect();
    send_plain(&bootstrap, &records).await?;
    let mut config = config(&bootstrap, "bounded", "large");
    config.max_in_flight_per_partition = 1_000;
    config.max_unfinished_bytes_per_partition = 300_000;
    let gate = Gate {
        started: Arc::default(),
        open: Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let started = Arc::clone(&gate.started);
    let open = Arc::clone(&gate.open);
    let consumer = ConsumerBuilder::new(config).build(gate)?;
    let status = consumer.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    let count = || started.load(std::sync::atomic::Ordering::SeqCst);
    wait_until("a record started", || count() > 0).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // One fetch (about 1 MB here) may land past the limit before the
    // partition pauses; the rest waits in the log, not in memory.
    let held = count();
    eprintln!("{held} records held against the bound");
    ensure!(
        held < 20,
        "{held} records of 100 kB held against a 300 kB bound"
    );
    open.add_permits(total);
    let handled = wait_until("every record handled", || count() == total).await;
    ensure!(
        handled.is_ok(),
        "{} of {total} started; lag {:?}",
        count(),
        status.lag()
    );
    let _ = stop.send(());
    common::stopped(run).await
}
