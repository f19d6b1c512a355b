//! The thresholds a run must meet, and whether it met them.

use crate::args::Args;
use crate::run::Outcome;

/// A threshold and whether the run met it.
pub(crate) struct Verdict {
    pub(crate) name: String,
    pub(crate) passed: bool,
}

pub(crate) fn verdicts(args: &Args, sluice: &Outcome) -> Vec<Verdict> {
    let min_rate = args.min_rate.unwrap_or(match args.rate {
        0 => 10_000.0,
        rate => rate as f64 * 0.98,
    });
    let mut verdicts = vec![
        Verdict {
            name: format!(
                "end-to-end rate {:.0}/s >= {:.0}/s",
                sluice.end_to_end_rate(),
                min_rate
            ),
            passed: sluice.end_to_end_rate() >= min_rate,
        },
        Verdict {
            name: format!(
                "consumer lag p99 {:.0} ms < {:.0} ms",
                sluice.lag_ms(99.0),
                args.max_lag_p99_ms
            ),
            passed: sluice.lag_ms(99.0) < args.max_lag_p99_ms,
        },
        Verdict {
            name: format!(
                "error rate {:.4} < {}",
                sluice.error_rate(),
                args.max_error_rate
            ),
            passed: sluice.error_rate() < args.max_error_rate,
        },
        Verdict {
            name: format!("lost {} = 0", sluice.check.lost()),
            passed: sluice.check.lost() == 0,
        },
        Verdict {
            name: format!("out of order {} = 0", sluice.check.order_violations),
            passed: sluice.check.order_violations == 0,
        },
    ];
    if let Some(max) = args.max_p99_ms {
        verdicts.push(Verdict {
            name: format!("latency p99 {:.1} ms <= {max} ms", sluice.latency_ms(99.0)),
            passed: sluice.latency_ms(99.0) <= max,
        });
    }
    verdicts
}

/// The thresholds the other rounds failed: every round must pass.
pub(crate) fn failed_elsewhere<'a>(
    args: &Args,
    others: impl IntoIterator<Item = &'a Outcome>,
) -> Vec<String> {
    others
        .into_iter()
        .flat_map(|sluice| verdicts(args, sluice))
        .filter(|v| !v.passed)
        .map(|v| v.name)
        .collect()
}
