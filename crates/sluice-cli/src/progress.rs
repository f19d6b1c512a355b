//! Progress bars (drawn only on a terminal) and rate limiting.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A bar with a count, a rate and an ETA when the total is known.
pub(crate) fn bar(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        format!("{what} [{{bar:30}}] {{pos}}/{{len}} ({{per_sec}}, ETA {{eta}})")
    } else {
        format!("{what} {{pos}} ({{per_sec}})")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// `--rate`: records per second, a finite number from 0.001 to 10⁹.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if rate.is_finite() && (0.001..=1e9).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "{text:?} is out of range: give records per second from 0.001 to 1000000000"
        ))
    }
}

/// Paces calls to at most `per_second` (none: no limit).
pub(crate) struct Pacer {
    per_second: Option<f64>,
    started: Instant,
    count: u64,
}

impl Pacer {
    pub(crate) fn new(per_second: Option<f64>) -> Self {
        Self {
            per_second: per_second.filter(|r| *r > 0.0),
            started: Instant::now(),
            count: 0,
        }
    }

    /// Sleeps until the next call is due.
    pub(crate) fn wait(&mut self) {
        if let Some(rate) = self.per_second {
            let offset =
                Duration::try_from_secs_f64(self.count as f64 / rate).unwrap_or(Duration::MAX);
            let now = Instant::now();
            if let Some(due) = self.started.checked_add(offset)
                && due > now
            {
                std::thread::sleep(due - now);
            }
        }
        self.count = self.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_out_of_range_are_refused() {
        assert_eq!(parse_rate("50"), Ok(50.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "1e-300", "1e300", "fast", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
