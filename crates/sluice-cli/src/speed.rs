//! `sluice replay --speed`: copies keep the original records' gaps, scaled.
//!
//! Each record waits for the gap between its timestamp and the latest
//! timestamp seen before it, divided by the speed and cut to `--max-gap`.
//! Measuring from the latest timestamp seen keeps the total right when the
//! partitions, read side by side, interleave their times; a record from
//! the past, or one whose timestamp jumps far ahead, costs at most one cut
//! gap and never stalls the replay.

use std::time::{Duration, Instant};

/// How fast a replay runs against the original timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Speed {
    /// As fast as the cluster takes it (`--rate` still caps it).
    Max,
    /// The original gaps divided by this factor (`realtime` is 1).
    Times(f64),
}

/// `--speed`: `max`, `realtime`, or a factor such as `2x` or `0.5x`
/// (0.001x to 1000000x).
pub(crate) fn parse_speed(text: &str) -> Result<Speed, String> {
    let text = text.trim();
    match text {
        "max" => return Ok(Speed::Max),
        "realtime" => return Ok(Speed::Times(1.0)),
        _ => {}
    }
    let factor = text
        .strip_suffix('x')
        .and_then(|f| f.parse::<f64>().ok())
        .ok_or_else(|| {
            format!("{text:?} is not a speed: give max, realtime or a factor like 2x")
        })?;
    if factor.is_finite() && (0.001..=1e6).contains(&factor) {
        Ok(Speed::Times(factor))
    } else {
        Err(format!("{text:?} is out of range: from 0.001x to 1000000x"))
    }
}

/// Where the replay stands on the original timeline.
#[derive(Debug)]
pub(crate) struct Timeline {
    speed: Speed,
    max_gap: Duration,
    /// The latest record timestamp seen, in ms.
    latest_ms: Option<i64>,
    /// When the latest copy was due.
    due: Option<Instant>,
}

impl Timeline {
    pub(crate) fn new(speed: Speed, max_gap: Duration) -> Self {
        Self {
            speed,
            max_gap,
            latest_ms: None,
            due: None,
        }
    }

    /// The wait before a record of `timestamp_ms` (none: no wait) is due,
    /// after the one before it.
    pub(crate) fn gap(&mut self, timestamp_ms: Option<i64>) -> Duration {
        let Speed::Times(factor) = self.speed else {
            return Duration::ZERO;
        };
        let Some(at) = timestamp_ms else {
            return Duration::ZERO;
        };
        let Some(latest) = self.latest_ms else {
            self.latest_ms = Some(at);
            return Duration::ZERO;
        };
        if at <= latest {
            return Duration::ZERO;
        }
        self.latest_ms = Some(at);
        let gap_ms = at.saturating_sub(latest) as f64 / factor;
        Duration::try_from_secs_f64(gap_ms / 1000.0)
            .unwrap_or(Duration::MAX)
            .min(self.max_gap)
    }

    /// Sleeps until a record of `timestamp_ms` is due.
    pub(crate) fn wait(&mut self, timestamp_ms: Option<i64>) {
        if self.speed == Speed::Max {
            return;
        }
        let gap = self.gap(timestamp_ms);
        let now = Instant::now();
        // Due a gap after the previous copy was due: a replay that fell
        // behind (a slow cluster) catches up on the schedule.
        let base = self.due.unwrap_or(now);
        let due = base.checked_add(gap).unwrap_or(base);
        self.due = Some(due);
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_and_odd_ones_are_refused() {
        assert_eq!(parse_speed("max"), Ok(Speed::Max));
        assert_eq!(parse_speed("realtime"), Ok(Speed::Times(1.0)));
        assert_eq!(parse_speed("2x"), Ok(Speed::Times(2.0)));
        assert_eq!(parse_speed("0.5x"), Ok(Speed::Times(0.5)));
        for bad in ["2", "x", "0x", "-1x", "NaNx", "infx", "1e9x", "fast", ""] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gaps_are_scaled_cut_and_measured_from_the_latest_time() {
        let ms = Duration::from_millis;
        let mut timeline = Timeline::new(Speed::Times(2.0), ms(5_000));
        assert_eq!(timeline.gap(Some(1_000)), ms(0));
        assert_eq!(timeline.gap(Some(3_000)), ms(1_000));
        // Another partition, behind in time: no wait, and the latest stays.
        assert_eq!(timeline.gap(Some(2_000)), ms(0));
        assert_eq!(timeline.gap(Some(4_000)), ms(500));
        assert_eq!(timeline.gap(None), ms(0));
        // A jump far ahead is cut, and what follows it goes at once.
        assert_eq!(timeline.gap(Some(i64::MAX)), ms(5_000));
        assert_eq!(timeline.gap(Some(5_000)), ms(0));
        let mut max = Timeline::new(Speed::Max, ms(5_000));
        max.gap(Some(0));
        assert_eq!(max.gap(Some(10_000)), ms(0));
    }

    #[test]
    fn timestamps_before_1970_are_gaps_like_any_other() {
        let ms = Duration::from_millis;
        let mut timeline = Timeline::new(Speed::Times(1.0), ms(60_000));
        assert_eq!(timeline.gap(Some(i64::MIN)), ms(0));
        assert_eq!(timeline.gap(Some(i64::MIN + 250)), ms(250));
        assert_eq!(timeline.gap(Some(0)), ms(60_000));
    }
}
