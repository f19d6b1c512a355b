//! `ordering = "unordered"`: records of one key run side by side, and only
//! the finished prefix is committed.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::ensure;
use common::{committed, config};
use sluice_consumer::{ConsumerBuilder, Context, Handler, HandlerError, Handlers, OrderBy};
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_kafka::KafkaConfig;
use sluice_producer::ProducerConfig;
use sluice_testkit::{BrokerKind, TestBroker, sequenced};
use tokio::sync::{Notify, oneshot};

const EVENTS: u64 = 100;
/// The record that waits until the test lets it go.
const HELD: i64 = 10;

#[derive(Default)]
struct Seen {
    running: AtomicUsize,
    most_running: AtomicUsize,
    finished: Mutex<HashSet<i64>>,
    release: Notify,
}

struct Slow(Arc<Seen>);

impl Handler<EmailReceived> for Slow {
    async fn handle(&self, _: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        let seen = &self.0;
        let now = seen.running.fetch_add(1, Ordering::SeqCst) + 1;
        seen.most_running.fetch_max(now, Ordering::SeqCst);
        if ctx.offset() == HELD {
            seen.release.notified().await;
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seen.running.fetch_sub(1, Ordering::SeqCst);
        seen.finished.lock().unwrap().insert(ctx.offset());
        Ok(())
    }
}

async fn wait_until(what: &str, done: impl Fn() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done()? {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn one_key_runs_side_by_side_and_only_the_finished_prefix_is_committed() -> anyhow::Result<()>
{
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("loose", 1).await?;
    // Every event has the same key.
    sequenced::produce(
        ProducerConfig::new(KafkaConfig::new(&bootstrap)),
        "loose",
        0..EVENTS,
        1,
    )
    .await
    .map_err(anyhow::Error::from_boxed)?;

    let seen = Arc::new(Seen::default());
    let handlers =
        Handlers::new(registry().clone()).on::<EmailReceived, _>(Slow(Arc::clone(&seen)));
    let mut config = config(&bootstrap, "loose-svc", "loose");
    config.ordering = OrderBy::Unordered;
    config.max_in_flight_per_partition = 8;
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));

    let others = EVENTS as usize - 1;
    wait_until("every record but the held one", || {
        Ok(seen.finished.lock().unwrap().len() == others)
    })
    .await?;
    // Commits run every 100 ms: give them time, then look.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let while_held = committed(&bootstrap, "loose-svc", "loose", 1)?[0];
    seen.release.notify_one();
    wait_until("the whole partition committed", || {
        Ok(committed(&bootstrap, "loose-svc", "loose", 1)?[0] == EVENTS as i64)
    })
    .await?;
    stop.send(()).ok();
    common::stopped(run).await?;

    let most = seen.most_running.load(Ordering::SeqCst);
    ensure!(
        most == 8,
        "at most {most} records of one key ran at once, with a limit of 8"
    );
    ensure!(
        while_held == HELD,
        "committed {while_held} while offset {HELD} was running"
    );
    Ok(())
}
