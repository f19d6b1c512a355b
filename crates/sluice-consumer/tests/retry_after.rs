//! A handler's `HandlerError::retry_after` sets the wait before its next
//! attempt, capped by the policy's `max_backoff_ms`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use common::{config, produce, sequence};
use sluice_consumer::{ConsumerBuilder, Context, Handler, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_testkit::{BrokerKind, TestBroker};
use tokio::sync::oneshot;

/// When each attempt of each event began.
type Attempts = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

/// Event 0 asks to be retried after 600 ms, event 1 after an hour; both
/// succeed on their second attempt.
struct Downstream(Attempts);

impl Handler<EmailReceived> for Downstream {
    async fn handle(&self, event: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        let seq = sequence(&event);
        self.0
            .lock()
            .unwrap()
            .entry(seq)
            .or_default()
            .push(Instant::now());
        match (seq, ctx.attempt()) {
            (0, 1) => Err(HandlerError::retry_after(
                Duration::from_millis(600),
                "429, Retry-After: 0.6",
            )),
            (1, 1) => Err(HandlerError::retry_after(
                Duration::from_secs(3600),
                "503, Retry-After: 3600",
            )),
            _ => Ok(()),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_sets_the_next_attempts_delay_up_to_the_backoff_cap() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("calls", 1).await?;
    produce(&bootstrap, "calls", 0..2).await?;

    let attempts = Attempts::default();
    let handlers =
        Handlers::new(registry().clone()).on::<EmailReceived, _>(Downstream(Arc::clone(&attempts)));
    let mut config = config(&bootstrap, "calls-svc", "calls");
    config.retry.initial_backoff_ms = 10;
    config.retry.max_backoff_ms = 2_000;
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));
    let deadline = Instant::now() + Duration::from_secs(30);
    let gaps = loop {
        let gaps: Vec<Duration> = {
            let attempts = attempts.lock().unwrap();
            (0..2)
                .filter_map(|seq| match attempts.get(&seq)?.as_slice() {
                    [first, second] => Some(*second - *first),
                    _ => None,
                })
                .collect()
        };
        if gaps.len() == 2 {
            break gaps;
        }
        ensure!(
            Instant::now() < deadline,
            "second attempts not seen: {:?}",
            attempts.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.send(()).ok();
    common::stopped(run).await.context("stopping")?;

    let ms = Duration::from_millis;
    ensure!(
        gaps[0] >= ms(600) && gaps[0] < ms(1_500),
        "event 0 asked for 600 ms and waited {:?}",
        gaps[0]
    );
    ensure!(
        gaps[1] >= ms(2_000) && gaps[1] < ms(3_500),
        "event 1 asked for an hour, capped at 2 s, and waited {:?}",
        gaps[1]
    );
    Ok(())
}
