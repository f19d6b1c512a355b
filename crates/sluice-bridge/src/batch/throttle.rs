//! The backoff of resends, and the route-wide pause after throttling.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::config::BatchingConfig;

/// The wait before resend number `attempt` (from 1): doubling from
/// `initial_backoff_ms` up to `max_backoff_ms`, jittered.
pub(super) fn backoff(config: &BatchingConfig, attempt: u32) -> Duration {
    let exp = config
        .initial_backoff_ms
        .saturating_mul(1_u64 << attempt.saturating_sub(1).min(20))
        .min(config.max_backoff_ms);
    // Full jitter over the upper half keeps calls of many tasks apart.
    Duration::from_millis(exp / 2 + fastrand::u64(0..=exp / 2))
}

/// A route-wide pause after throttling, doubling while throttling goes on.
pub(super) struct Throttle {
    state: Mutex<(u32, Instant)>,
    config: BatchingConfig,
}

impl Throttle {
    pub(super) fn new(config: &BatchingConfig) -> Self {
        Self {
            state: Mutex::new((0, Instant::now())),
            config: config.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Instant)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn hit(&self) {
        let mut state = self.lock();
        state.0 = (state.0 + 1).min(20);
        let until = Instant::now() + backoff(&self.config, state.0);
        state.1 = state.1.max(until);
    }

    pub(super) fn clear(&self) {
        self.lock().0 = 0;
    }

    pub(super) async fn wait(&self) {
        loop {
            let until = self.lock().1;
            if until <= Instant::now() {
                return;
            }
            sleep_until(until).await;
        }
    }
}
