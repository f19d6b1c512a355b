//! `max_records_per_second` holds the consumer to its rate over every
//! partition, within 10 % over 30 s.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use common::{config, produce};
use sluice_consumer::{ConsumerBuilder, Context, Handler, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_testkit::{BrokerKind, TestBroker};
use tokio::sync::oneshot;

struct Count(Arc<AtomicU64>);

impl Handler<EmailReceived> for Count {
    async fn handle(&self, _event: EmailReceived, _ctx: &Context) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

const RATE: u64 = 2_000;
const SECONDS: u64 = 30;

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_holds_within_ten_percent_over_thirty_seconds() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("paced", 4).await?;
    // More than the limit allows in the measured time, so the limit, not
    // the supply, sets the pace.
    produce(&bootstrap, "paced", 0..RATE * SECONDS * 3 / 2).await?;

    let handled = Arc::new(AtomicU64::new(0));
    let handlers =
        Handlers::new(registry().clone()).on::<EmailReceived, _>(Count(Arc::clone(&handled)));
    let mut config = config(&bootstrap, "paced-svc", "paced");
    config.max_records_per_second = Some(RATE as u32);
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));

    let deadline = Instant::now() + Duration::from_secs(60);
    while handled.load(Ordering::Relaxed) == 0 {
        ensure!(Instant::now() < deadline, "nothing handled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let at = |seconds: u64| started + Duration::from_secs(seconds);
    tokio::time::sleep_until(at(SECONDS / 2).into()).await;
    let halfway = handled.load(Ordering::Relaxed);
    tokio::time::sleep_until(at(SECONDS).into()).await;
    let total = handled.load(Ordering::Relaxed);
    stop.send(()).ok();
    common::stopped(run).await.context("stopping")?;

    let within = |count: u64, seconds: u64| {
        let expected = RATE * seconds;
        count >= expected * 9 / 10 && count <= expected * 11 / 10
    };
    ensure!(
        within(halfway, SECONDS / 2),
        "{halfway} records in the first {} s, at {RATE}/s",
        SECONDS / 2
    );
    ensure!(
        within(total, SECONDS),
        "{total} records in {SECONDS} s, at {RATE}/s"
    );
    Ok(())
}
