//! Aggregates whose first pending row failed retriably wait out a backoff
//! before the relay reads them again, so one aggregate that cannot be
//! published (its partition has no leader, say) does not fill every round
//! with rows that must wait behind it and starve the other aggregates.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The first retry waits this long; each attempt doubles it, up to
/// [`MAX_DELAY`].
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(100);
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);

/// The aggregates waiting for a retry, and until when.
#[derive(Debug, Default)]
pub(crate) struct Blocked {
    until: HashMap<String, Instant>,
}

impl Blocked {
    /// The wait after a row's `attempts`-th failure.
    pub(crate) fn delay(attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(16);
        FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
    }

    /// Holds `aggregate` back after its row failed for the `attempts`-th
    /// time.
    pub(crate) fn block(&mut self, aggregate: &str, attempts: i32, now: Instant) {
        self.until
            .insert(aggregate.to_owned(), now + Self::delay(attempts));
    }

    /// When the first waiting aggregate may be read again.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.until.values().min().copied()
    }

    /// The aggregates still waiting at `now`; forgets the others, which
    /// the next round reads again from their first pending row.
    pub(crate) fn waiting(&mut self, now: Instant) -> Vec<String> {
        self.until.retain(|_, until| *until > now);
        self.until.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        assert_eq!(Blocked::delay(1), Duration::from_millis(100));
        assert_eq!(Blocked::delay(2), Duration::from_millis(200));
        assert_eq!(Blocked::delay(4), Duration::from_millis(800));
        assert_eq!(Blocked::delay(100), MAX_DELAY);
        assert_eq!(Blocked::delay(0), FIRST_DELAY);
        assert_eq!(Blocked::delay(-3), FIRST_DELAY);
    }

    #[test]
    fn blocked_aggregates_come_back_after_their_delay() {
        let t0 = Instant::now();
        let mut blocked = Blocked::default();
        blocked.block("a", 1, t0);
        blocked.block("b", 3, t0);
        assert_eq!(blocked.waiting(t0).len(), 2);
        assert_eq!(blocked.next_expiry(), Some(t0 + Duration::from_millis(100)));
        let mut later = blocked.waiting(t0 + Duration::from_millis(150));
        later.sort();
        assert_eq!(later, vec!["b".to_owned()]);
        assert!(blocked.waiting(t0 + Duration::from_millis(450)).is_empty());
        assert!(blocked.until.is_empty());
    }
}
