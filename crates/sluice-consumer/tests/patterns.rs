//! Topic patterns: a `^` pattern reads every matching topic and no other.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use common::{Collect, Log, config, produce};
use sluice_consumer::{ConsumerBuilder, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_testkit::{BrokerKind, TestBroker};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_pattern_reads_every_matching_topic() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Tansu).await?;
    let bootstrap = broker.bootstrap_servers();
    for topic in ["task.a", "task.b", "other"] {
        broker.create_topic(topic, 1).await?;
    }
    produce(&bootstrap, "task.a", 0..10).await?;
    produce(&bootstrap, "task.b", 10..20).await?;
    produce(&bootstrap, "other", 20..30).await?;

    let log = Arc::new(Log::default());
    let handlers =
        Handlers::new(registry().clone()).on::<EmailReceived, _>(Collect(Arc::clone(&log)));
    let consumer =
        ConsumerBuilder::new(config(&bootstrap, "tasks", r"^task\..*")).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));
    log.wait_for("both task topics", Duration::from_secs(60), |e| {
        e.len() >= 20
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send(()).ok();
    common::stopped(run).await?;
    let mut handled: Vec<u64> = log.entries().iter().map(|e| e.1).collect();
    handled.sort_unstable();
    ensure!(
        handled == (0..20).collect::<Vec<_>>(),
        "handled {handled:?}"
    );
    Ok(())
}
