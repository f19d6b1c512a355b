//! How retriable handler failures are retried in place: the policy and
//! the delay before each attempt.

use std::time::Duration;

/// How retriable handler failures are retried in place.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; then the record is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`: exponential, capped, with full
    /// jitter over its upper half (so retries of many records spread out but
    /// never come sooner than half the nominal delay).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let nominal = self
            .initial_backoff_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(32))
            .min(self.max_backoff_ms);
        let half = nominal / 2;
        Duration::from_millis(half + fastrand::u64(0..=nominal - half))
    }

    /// The delay before attempt `attempt + 1` when the failure asked for
    /// `requested` (at most `max_backoff_ms`), else [`backoff`](Self::backoff).
    pub fn delay(&self, attempt: u32, requested: Option<Duration>) -> Duration {
        match requested {
            Some(delay) => delay.min(Duration::from_millis(self.max_backoff_ms)),
            None => self.backoff(attempt),
        }
    }
}

fn default_max_attempts() -> u32 {
    5
}
fn default_initial_backoff_ms() -> u64 {
    100
}
fn default_max_backoff_ms() -> u64 {
    10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
        };
        for _ in 0..100 {
            let first = policy.backoff(1).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let third = policy.backoff(3).as_millis();
            assert!((200..=400).contains(&third), "{third}");
            let capped = policy.backoff(30).as_millis();
            assert!((500..=1_000).contains(&capped), "{capped}");
        }
    }

    #[test]
    fn a_requested_delay_replaces_the_backoff_up_to_its_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
        };
        let ms = Duration::from_millis;
        assert_eq!(policy.delay(1, Some(ms(700))), ms(700));
        assert_eq!(policy.delay(9, Some(ms(0))), ms(0));
        assert_eq!(policy.delay(1, Some(Duration::MAX)), ms(1_000));
        let backoff = policy.delay(3, None).as_millis();
        assert!((200..=400).contains(&backoff), "{backoff}");
    }
}
