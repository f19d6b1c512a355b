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
            let due = self.started + Duration::from_secs_f64(self.count as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.count += 1;
    }
}
