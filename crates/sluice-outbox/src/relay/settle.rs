//! What becomes of each row of a round once its sends have finished: the
//! ordering rule of the relay, without a database or a broker.
//!
//! Rows arrive in `seq` order. A row is marked published only when it was
//! acknowledged **and** no earlier row of its aggregate in the round is
//! still pending: an aggregate's rows leave the pending state in order, so
//! the next round re-sends from the first row that did not make it.

use std::collections::HashSet;

/// Why a row was not published this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Short and stable: for metrics labels, the `error_class` column and
    /// the CLI.
    pub class: String,
    pub message: String,
}

impl Failure {
    pub fn new(class: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            message: message.into(),
        }
    }
}

/// The result of one row's send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The broker acknowledged the record.
    Delivered,
    /// It can never be published as it is (unknown type, undecodable
    /// payload, topic missing, too large): dead-lettered.
    Permanent(Failure),
    /// It may be published later (timeouts, an unreachable cluster): it
    /// stays pending and its attempt is counted.
    Retriable(Failure),
    /// Not sent: an earlier row of its aggregate failed this round.
    Held,
}

/// One row as the settlement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef<'a> {
    pub seq: i64,
    pub aggregate: &'a str,
    /// Attempts before this round.
    pub attempts: i32,
}

/// What to write back for a round.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// Acknowledged, with every earlier row of the aggregate settled.
    pub published: Vec<i64>,
    /// To the dead-letter state, with their failure.
    pub dead: Vec<(i64, Failure)>,
    /// Still pending, their attempt counted and their error kept.
    pub failed: Vec<(i64, Failure)>,
    /// Acknowledged, but behind a row of their aggregate that is still
    /// pending: sent again with it next round (duplicates, never a gap).
    pub resend: Vec<i64>,
}

/// Settles a round. `max_attempts`: a row failing retriably for the
/// `max_attempts`-th time is dead-lettered instead (0: never).
pub fn settle<'a>(
    rows: impl IntoIterator<Item = (RowRef<'a>, Outcome)>,
    max_attempts: u32,
) -> Settlement {
    let mut settlement = Settlement::default();
    // Aggregates with a row still pending earlier in this round.
    let mut blocked: HashSet<&str> = HashSet::new();
    for (row, outcome) in rows {
        let is_blocked = blocked.contains(row.aggregate);
        match outcome {
            Outcome::Delivered if !is_blocked => settlement.published.push(row.seq),
            Outcome::Delivered => settlement.resend.push(row.seq),
            Outcome::Permanent(failure) => settlement.dead.push((row.seq, failure)),
            Outcome::Retriable(failure) => {
                let attempts = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
                if max_attempts > 0 && attempts >= max_attempts {
                    let failure = Failure::new(
                        "retries_exhausted",
                        format!(
                            "{attempts} attempts failed; the last: {} ({})",
                            failure.message, failure.class
                        ),
                    );
                    settlement.dead.push((row.seq, failure));
                } else {
                    blocked.insert(row.aggregate);
                    settlement.failed.push((row.seq, failure));
                }
            }
            Outcome::Held => {
                blocked.insert(row.aggregate);
            }
        }
    }
    settlement
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, aggregate: &str) -> RowRef<'_> {
        RowRef {
            seq,
            aggregate,
            attempts: 0,
        }
    }

    fn timeout() -> Outcome {
        Outcome::Retriable(Failure::new("timed_out", "no ack"))
    }

    #[test]
    fn delivered_rows_are_published() {
        let s = settle(
            [
                (row(1, "a"), Outcome::Delivered),
                (row(2, "b"), Outcome::Delivered),
            ],
            0,
        );
        assert_eq!(s.published, vec![1, 2]);
        assert!(s.dead.is_empty() && s.failed.is_empty() && s.resend.is_empty());
    }

    #[test]
    fn a_failure_holds_back_its_aggregate_only() {
        let s = settle(
            [
                (row(1, "a"), Outcome::Delivered),
                (row(2, "a"), timeout()),
                (row(3, "b"), Outcome::Delivered),
                (row(4, "a"), Outcome::Delivered),
                (row(5, "a"), Outcome::Held),
                (row(6, "b"), Outcome::Delivered),
            ],
            0,
        );
        assert_eq!(s.published, vec![1, 3, 6]);
        assert_eq!(s.failed.iter().map(|f| f.0).collect::<Vec<_>>(), vec![2]);
        assert_eq!(s.resend, vec![4]);
    }

    #[test]
    fn dead_letters_do_not_block() {
        let bad = Outcome::Permanent(Failure::new("unknown_event_type", "x.v1"));
        let s = settle([(row(1, "a"), bad), (row(2, "a"), Outcome::Delivered)], 0);
        assert_eq!(s.published, vec![2]);
        assert_eq!(s.dead.len(), 1);
        assert_eq!(s.dead[0].1.class, "unknown_event_type");
    }

    #[test]
    fn retries_run_out() {
        let tired = RowRef {
            seq: 7,
            aggregate: "a",
            attempts: 2,
        };
        let s = settle([(tired, timeout()), (row(8, "a"), Outcome::Delivered)], 3);
        assert_eq!(s.dead.len(), 1);
        assert_eq!(s.dead[0].1.class, "retries_exhausted");
        assert!(s.dead[0].1.message.contains("timed_out"), "{:?}", s.dead[0]);
        assert_eq!(s.published, vec![8]);
        // Without a limit the same row stays pending.
        let s = settle([(tired, timeout())], 0);
        assert_eq!(s.failed.len(), 1);
    }
}
