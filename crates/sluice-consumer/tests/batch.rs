//! Batch handlers: batches of up to N events, an outcome per event, failed
//! events retried or dead-lettered on their own, per-key order intact.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::ensure;
use common::{Log, assert_per_key_order, config, produce, read_topic, sequence};
use sluice_consumer::{
    BatchHandler, BatchOptions, Batched, ConsumerBuilder, Context, HandlerError, Handlers,
};
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_testkit::{BrokerKind, TestBroker};
use tokio::sync::oneshot;

const EVENTS: u64 = 600;
const MAX_EVENTS: usize = 32;

fn poison(seq: u64) -> bool {
    seq % 100 == 7
}

fn flaky(seq: u64) -> bool {
    seq % 50 == 3
}

#[derive(Default)]
struct Seen {
    log: Log,
    /// The keys of each batch, in the order batches ran.
    batches: Mutex<Vec<Vec<String>>>,
    /// The attempt each event succeeded at.
    attempts: Mutex<HashMap<u64, u32>>,
}

struct Store(Arc<Seen>);

impl BatchHandler<EmailReceived> for Store {
    async fn handle_batch(
        &self,
        batch: Vec<(EmailReceived, Context)>,
    ) -> Vec<Result<(), HandlerError>> {
        let keys = batch
            .iter()
            .map(|(_, ctx)| String::from_utf8_lossy(ctx.key().unwrap_or_default()).into_owned())
            .collect();
        self.0.batches.lock().unwrap().push(keys);
        // A store call for the whole batch, then an outcome per event.
        tokio::time::sleep(Duration::from_millis(5)).await;
        batch
            .into_iter()
            .map(|(event, ctx)| {
                let seq = sequence(&event);
                if poison(seq) {
                    return Err(HandlerError::permanent(format!("event {seq} is invalid")));
                }
                if flaky(seq) && ctx.attempt() == 1 {
                    return Err(HandlerError::retriable("one row of the batch timed out"));
                }
                let key = String::from_utf8_lossy(ctx.key().unwrap_or_default()).into_owned();
                self.0.attempts.lock().unwrap().insert(seq, ctx.attempt());
                self.0.log.push(key, seq);
                Ok(())
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_succeed_partly_and_failed_events_follow_the_retry_policy_alone()
-> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("batched", 2).await?;
    broker.create_topic("batched.dlq", 1).await?;
    produce(&bootstrap, "batched", 0..EVENTS).await?;

    let seen = Arc::new(Seen::default());
    let options = BatchOptions {
        max_events: MAX_EVENTS,
        linger: Duration::from_millis(20),
    };
    let handlers = Handlers::new(registry().clone())
        .on::<EmailReceived, _>(Batched::new(Store(Arc::clone(&seen)), options));
    let consumer =
        ConsumerBuilder::new(config(&bootstrap, "batched-svc", "batched")).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));
    let good = (0..EVENTS).filter(|s| !poison(*s)).count();
    seen.log
        .wait_for("every good event", Duration::from_secs(60), |e| {
            e.len() >= good
        })
        .await?;
    let dead = read_topic(&bootstrap, "batched.dlq", (EVENTS / 100) as usize)?;
    stop.send(()).ok();
    common::stopped(run).await?;

    let entries = seen.log.entries();
    let duplicates = assert_per_key_order(&entries, poison)?;
    ensure!(duplicates == 0, "{duplicates} events handled twice");
    let handled: HashSet<u64> = entries.iter().map(|e| e.1).collect();
    ensure!(handled == (0..EVENTS).filter(|s| !poison(*s)).collect::<HashSet<_>>());
    let attempts = seen.attempts.lock().unwrap();
    ensure!(
        attempts
            .iter()
            .all(|(seq, &a)| a == if flaky(*seq) { 2 } else { 1 }),
        "flaky events succeed on their second attempt, the others on their first"
    );
    let mut dead: Vec<u64> = dead
        .iter()
        .map(|r| sluice_testkit::decode_message::<EmailReceived, _>(&registry_decoder(), r))
        .map(|r| r.map(|(event, _)| sequence(&event)))
        .collect::<Result<_, _>>()?;
    dead.sort_unstable();
    ensure!(dead == (0..EVENTS).filter(|s| poison(*s)).collect::<Vec<_>>());

    let batches = seen.batches.lock().unwrap();
    let largest = batches.iter().map(Vec::len).max().unwrap_or(0);
    ensure!(
        largest > 1 && largest <= MAX_EVENTS,
        "largest batch {largest}"
    );
    for keys in batches.iter() {
        let distinct: HashSet<&String> = keys.iter().collect();
        ensure!(
            distinct.len() == keys.len(),
            "a batch held two events of one key: {keys:?}"
        );
    }
    Ok(())
}

fn registry_decoder() -> sluice_core::Decoder<'static> {
    sluice_core::Decoder::new(registry())
}
