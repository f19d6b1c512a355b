//! The consumer's rate limit: records counted as the poll thread reads
//! them; over the rate, the poll thread takes no more for a while.
//!
//! Waiting, rather than pausing the partitions, keeps librdkafka's
//! prefetched records: a pause drops them and a resume fetches them again
//! (with a fetch wait in between), which at tens of pauses a second costs
//! more than the limit lets through. What is not taken stays in
//! librdkafka's bounded prefetch queue (`queued.max.messages.kbytes`), and
//! fetching stops once that is full.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::MonotonicClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<Instant>>;

/// Records per second, with a burst of a tenth of a second's worth.
pub(crate) struct Throttle {
    limiter: Limiter,
    /// The shortest wait: the time to refill half the burst, so the poll
    /// thread does not wake for every record.
    least_wait: Duration,
    /// Until when the poll thread takes no records, while it waits.
    waiting_until: Option<Instant>,
}

impl Throttle {
    pub(crate) fn new(per_second: NonZeroU32) -> Self {
        let burst = NonZeroU32::new(per_second.get() / 10).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        let least_wait =
            Duration::from_secs_f64(f64::from(burst.get()) / f64::from(per_second.get()) / 2.0);
        Self {
            limiter: RateLimiter::direct_with_clock(quota, MonotonicClock),
            least_wait,
            waiting_until: None,
        }
    }

    /// Counts one record read; returns whether it was over the rate (it is
    /// handled all the same: it was read), which starts a wait.
    pub(crate) fn record(&mut self) -> bool {
        let Err(not_until) = self.limiter.check() else {
            return false;
        };
        let now = Instant::now();
        self.waiting_until = Some(now + not_until.wait_time_from(now).max(self.least_wait));
        true
    }

    /// What is left of the wait, if one runs.
    pub(crate) fn wait_left(&mut self) -> Option<Duration> {
        let until = self.waiting_until?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.waiting_until = None;
            return None;
        }
        Some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_half_a_burst_is_waited_for() {
        let mut throttle = Throttle::new(NonZeroU32::new(1_000).unwrap());
        assert_eq!(throttle.wait_left(), None);
        // A burst of a tenth of a second's worth passes at once.
        let passed = (0..1_000).take_while(|_| !throttle.record()).count();
        assert!((100..=110).contains(&passed), "{passed}");
        let left = throttle.wait_left().unwrap();
        assert!(left > Duration::from_millis(40), "{left:?}");
        assert!(left <= Duration::from_millis(50), "{left:?}");
        std::thread::sleep(left);
        assert_eq!(throttle.wait_left(), None);
        // Half the burst came back meanwhile.
        let passed = (0..1_000).take_while(|_| !throttle.record()).count();
        assert!((50..=60).contains(&passed), "{passed}");
    }

    #[test]
    fn a_slow_rate_has_a_burst_of_one() {
        let mut throttle = Throttle::new(NonZeroU32::new(2).unwrap());
        assert!(!throttle.record());
        assert!(throttle.record());
        let left = throttle.wait_left().unwrap();
        assert!(
            left > Duration::from_millis(400) && left <= Duration::from_millis(500),
            "{left:?}"
        );
    }
}
