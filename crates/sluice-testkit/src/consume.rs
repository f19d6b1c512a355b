//! Running sluice's consumer in a test until it has read everything.

use std::time::{Duration, Instant};

use sluice_consumer::{Consumer, RecordHandler};

use crate::{Result, TestkitError};

/// Runs `consumer` until every partition it was assigned has no lag, then
/// stops it gracefully and returns how `run` ended; fails after `timeout`.
pub async fn run_until_caught_up<H: RecordHandler>(
    consumer: Consumer<H>,
    timeout: Duration,
) -> Result<()> {
    let status = consumer.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + timeout;
    loop {
        let lag = status.lag();
        if !lag.is_empty() && lag.iter().all(|l| l.records == Some(0)) {
            break;
        }
        if Instant::now() >= deadline {
            let _ = stop.send(());
            return Err(TestkitError::Consumer(format!(
                "it did not catch up within {timeout:?}: {lag:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    task.await
        .map_err(|e| TestkitError::Consumer(e.to_string()))?
        .map_err(|e| TestkitError::Consumer(e.to_string()))
}
