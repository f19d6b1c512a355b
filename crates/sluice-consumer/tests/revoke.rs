//! A handler still running when its partition is revoked and the revoke
//! deadline passes is cancelled: it does not run on beside the partition's
//! new owner, which handles the record again from the last commit.
//!
//! On the mock cluster, like the other rebalance tests (docs/brokers.md).

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::ensure;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_consumer::{ConsumerBuilder, Context, HandlerError, RecordHandler};
use sluice_kafka::KafkaConfig;
use sluice_testkit::MockKafka;

/// (member, partition, offset, finished) for every start and every finish.
type Events = Arc<Mutex<Vec<(&'static str, i32, i64, bool)>>>;

/// Takes `work` per record, logging when it starts and when it finishes.
#[derive(Clone)]
struct Slow {
    member: &'static str,
    work: Duration,
    events: Events,
}

impl RecordHandler for Slow {
    fn handle(&self, ctx: &Context) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let (partition, offset) = (ctx.partition(), ctx.offset());
        let this = self.clone();
        async move {
            this.log(partition, offset, false);
            tokio::time::sleep(this.work).await;
            this.log(partition, offset, true);
            Ok(())
        }
    }
}

impl Slow {
    fn log(&self, partition: i32, offset: i64, finished: bool) {
        self.events
            .lock()
            .unwrap()
            .push((self.member, partition, offset, finished));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_running_past_the_revoke_deadline_is_cancelled() -> anyhow::Result<()> {
    let mock = MockKafka::start(1)?;
    let bootstrap = mock.bootstrap_servers();
    mock.create_topic("slow", 2)?;
    let producer: FutureProducer = KafkaConfig::new(&bootstrap).client_config().create()?;
    for (partition, key) in [(0, "a"), (0, "b"), (1, "c"), (1, "d")] {
        producer
            .send(
                FutureRecord::to("slow")
                    .partition(partition)
                    .key(key)
                    .payload("work"),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    let events: Events = Arc::default();
    let member = |name: &'static str, work: Duration| {
        let mut config = common::config(&bootstrap, "revoking", "slow");
        config.kafka.client_id = Some(name.to_owned());
        config.revoke_timeout_ms = 500;
        config.shutdown_timeout_ms = 500;
        for (key, value) in [
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
        ] {
            config.kafka.properties.insert(key.into(), value.into());
        }
        let handler = Slow {
            member: name,
            work,
            events: Arc::clone(&events),
        };
        let consumer = ConsumerBuilder::new(config).build(handler)?;
        let status = consumer.status();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(consumer.run(async move {
            let _ = stopped.await;
        }));
        anyhow::Ok((stop, run, status))
    };
    let started = |events: &Events, who: &str, n: usize| {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.0 == who && !e.3)
            .count()
            >= n
    };

    // The first member starts all four records; each takes a minute.
    let (stop_first, first, first_status) = member("first", Duration::from_secs(60))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !started(&events, "first", 4) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the first member never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A second member takes a partition while its records still run.
    let (stop_second, second, second_status) = member("second", Duration::ZERO)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    let moved = loop {
        let log = events.lock().unwrap().clone();
        let finished: Vec<_> = log.iter().filter(|e| e.0 == "second" && e.3).collect();
        if finished.len() >= 2 {
            break finished.iter().map(|e| e.1).collect::<Vec<_>>();
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the second member handled nothing: {log:?}; first owns {:?}, second {:?}",
            first_status.assignment(),
            second_status.assignment()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ensure!(moved[0] == moved[1], "one partition moved: {moved:?}");
    // The first member's handlers of the moved partition were cancelled at
    // the deadline: waiting out their minute shows none of them finishing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = events.lock().unwrap().clone();
    ensure!(
        !log.iter().any(|e| e.0 == "first" && e.3),
        "a handler of the first member finished: {log:?}"
    );
    let _ = stop_second.send(());
    let _ = stop_first.send(());
    common::stopped(second).await?;
    common::stopped(first).await
}
