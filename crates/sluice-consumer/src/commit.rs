//! How far one partition may be committed, and how far it was.
//!
//! A [`Commits`] lives as long as one assignment of one partition: a
//! partition assigned again (to this member, after a rebalance) gets a new
//! one. Its worker and the poll thread share it:
//!
//! ```text
//!  poll thread            worker                   poll thread          client
//!  handed_over(n) ──►  passed(offset, n)     ──►  to_commit()      ──►  commit
//!                      redelivered()              commit_sent(..)
//!                                                 commit_confirmed ◄──  callback
//!                                                 commit_failed    ◄──
//!                                                 revoked(): the final commit
//! ```
//!
//! Every field has one writer: the worker writes what finished, the poll
//! thread (which also runs the commit callbacks) the rest.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

/// A partition's commit bookkeeping (see the module docs).
#[derive(Debug)]
pub(crate) struct Commits {
    /// Records handed to the worker.
    handed_over: AtomicU64,
    /// Records the worker is done with: passed by the commit position, or
    /// dropped as redeliveries of offsets it already had.
    finished: AtomicU64,
    /// One past the finished prefix, or -1 before any record finished.
    committable: AtomicI64,
    /// The offset last sent to be committed, or -1.
    sent: AtomicI64,
    /// `finished` when `sent` was sent.
    sent_finished: AtomicU64,
    /// The highest offset known committed, or -1.
    confirmed: AtomicI64,
    /// `finished` when `confirmed` was sent, as far as it is known.
    confirmed_finished: AtomicU64,
}

/// An offset to commit, and how many records it leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Commit {
    pub(crate) offset: i64,
    finished: u64,
}

impl Default for Commits {
    fn default() -> Self {
        Self {
            handed_over: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            committable: AtomicI64::new(-1),
            sent: AtomicI64::new(-1),
            sent_finished: AtomicU64::new(0),
            confirmed: AtomicI64::new(-1),
            confirmed_finished: AtomicU64::new(0),
        }
    }
}

impl Commits {
    /// The poll thread handed `records` more records to the worker.
    pub(crate) fn handed_over(&self, records: u64) {
        self.handed_over.fetch_add(records, Ordering::Relaxed);
    }

    /// The worker's finished prefix grew by `records` and now ends before
    /// `committable`.
    pub(crate) fn passed(&self, committable: i64, records: u64) {
        if records == 0 {
            return;
        }
        // The offset first: `finished` may only lag it, so what reads
        // `finished` first never commits less than it counted.
        self.committable.store(committable, Ordering::Release);
        self.finished.fetch_add(records, Ordering::AcqRel);
    }

    /// The worker dropped a record whose offset it already had (a
    /// redelivery after a seek): nothing is left to do for it.
    pub(crate) fn redelivered(&self) {
        self.finished.fetch_add(1, Ordering::AcqRel);
    }

    /// Where the group resumes if this member stops now, once a record
    /// finished.
    pub(crate) fn position(&self) -> Option<i64> {
        let committable = self.committable.load(Ordering::Acquire);
        (committable >= 0).then_some(committable)
    }

    /// Records handed over and not finished: queued or running.
    pub(crate) fn in_flight(&self) -> u64 {
        let finished = self.finished.load(Ordering::Acquire);
        self.handed_over
            .load(Ordering::Relaxed)
            .saturating_sub(finished)
    }

    /// Records handed over that no commit sent so far covers: what the next
    /// owner would read again, and what flow control bounds.
    pub(crate) fn uncommitted(&self) -> u64 {
        self.handed_over
            .load(Ordering::Relaxed)
            .saturating_sub(self.sent_finished.load(Ordering::Relaxed))
    }

    /// Whether records finished since the last commit was sent.
    pub(crate) fn finished_since_commit(&self) -> bool {
        self.finished.load(Ordering::Acquire) > self.sent_finished.load(Ordering::Relaxed)
    }

    /// The commit to send, when the finished prefix moved past what was
    /// sent.
    pub(crate) fn to_commit(&self) -> Option<Commit> {
        let finished = self.finished.load(Ordering::Acquire);
        let offset = self.committable.load(Ordering::Acquire);
        (offset > self.sent.load(Ordering::Relaxed)).then_some(Commit { offset, finished })
    }

    /// `commit` was handed to the client; `confirmed` when it returned
    /// from a synchronous commit, so it is known done.
    pub(crate) fn commit_sent(&self, commit: Commit, confirmed: bool) {
        self.sent.store(commit.offset, Ordering::Relaxed);
        self.sent_finished.store(commit.finished, Ordering::Relaxed);
        if confirmed {
            self.confirm(commit.offset, Some(commit.finished));
        }
    }

    /// The group accepted a commit of `offset` (an asynchronous commit's
    /// callback). A late callback of an earlier, lower commit changes
    /// nothing.
    pub(crate) fn commit_confirmed(&self, offset: i64) {
        let sent = self.sent.load(Ordering::Relaxed);
        let finished = (offset == sent).then(|| self.sent_finished.load(Ordering::Relaxed));
        self.confirm(offset, finished);
    }

    fn confirm(&self, offset: i64, finished: Option<u64>) {
        if offset <= self.confirmed.load(Ordering::Relaxed) {
            return;
        }
        self.confirmed.store(offset, Ordering::Relaxed);
        if let Some(finished) = finished {
            self.confirmed_finished.store(finished, Ordering::Relaxed);
        }
    }

    /// The group refused a commit of `offset`. If it was the last one
    /// sent, the next round sends the position again; a refusal of an
    /// earlier commit is overtaken by the later one already sent.
    pub(crate) fn commit_failed(&self, offset: i64) {
        if offset == self.sent.load(Ordering::Relaxed) {
            self.forget_unconfirmed();
        }
    }

    /// The partition leaves this member: its final commit covers whatever
    /// is not known committed (an asynchronous commit may have failed
    /// without its callback having run yet).
    pub(crate) fn revoked(&self) {
        self.forget_unconfirmed();
    }

    fn forget_unconfirmed(&self) {
        self.sent
            .store(self.confirmed.load(Ordering::Relaxed), Ordering::Relaxed);
        self.sent_finished.store(
            self.confirmed_finished.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }
}

/// Commits every partition whose finished prefix moved past its last
/// commit; the client's error when that commit failed (the partitions then
/// commit the same positions again next time).
pub(crate) fn commit<'a, C: ConsumerContext>(
    client: &BaseConsumer<C>,
    partitions: impl Iterator<Item = (&'a str, i32, &'a Commits)>,
    mode: CommitMode,
) -> KafkaResult<()> {
    let mut list = TopicPartitionList::new();
    let mut moved = Vec::new();
    for (topic, partition, commits) in partitions {
        let Some(commit) = commits.to_commit() else {
            continue;
        };
        if let Err(error) =
            list.add_partition_offset(topic, partition, Offset::Offset(commit.offset))
        {
            tracing::warn!(%error, topic, partition, "cannot add offset to commit");
            continue;
        }
        moved.push((commits, commit));
    }
    if moved.is_empty() {
        return Ok(());
    }
    tracing::debug!(?list, ?mode, "committing");
    match client.commit(&list, mode) {
        Ok(()) => {
            let confirmed = matches!(mode, CommitMode::Sync);
            for (commits, commit) in moved {
                commits.commit_sent(commit, confirmed);
            }
            Ok(())
        }
        Err(error) => {
            tracing::warn!(%error, "commit failed; will retry");
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends what `to_commit` offers, as an asynchronous commit would.
    fn send(commits: &Commits) -> Option<i64> {
        let commit = commits.to_commit()?;
        commits.commit_sent(commit, false);
        Some(commit.offset)
    }

    #[test]
    fn commits_only_what_moved() {
        let c = Commits::default();
        c.handed_over(10);
        assert_eq!(c.to_commit(), None, "nothing finished");
        assert_eq!(c.position(), None);
        c.passed(104, 5);
        assert_eq!(c.position(), Some(104));
        assert_eq!(c.in_flight(), 5);
        assert!(c.finished_since_commit());
        assert_eq!(send(&c), Some(104));
        assert_eq!(c.to_commit(), None, "already sent");
        assert!(!c.finished_since_commit());
        assert_eq!(c.uncommitted(), 5);
        c.passed(110, 5);
        assert_eq!(send(&c), Some(110));
        assert_eq!(c.uncommitted(), 0);
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn a_refused_commit_is_sent_again() {
        let c = Commits::default();
        c.handed_over(4);
        c.passed(2, 2);
        send(&c);
        c.commit_confirmed(2);
        c.passed(4, 2);
        send(&c);
        c.commit_failed(4);
        assert_eq!(c.uncommitted(), 2, "back to what is known committed");
        assert_eq!(send(&c), Some(4), "sent again");
        c.commit_confirmed(4);
        assert_eq!(c.uncommitted(), 0);
    }

    #[test]
    fn a_late_refusal_of_an_earlier_commit_changes_nothing() {
        let c = Commits::default();
        c.handed_over(4);
        c.passed(2, 2);
        send(&c);
        c.passed(4, 2);
        send(&c);
        c.commit_failed(2);
        assert_eq!(c.to_commit(), None, "4 is on its way and covers 2");
        c.commit_confirmed(4);
        c.revoked();
        assert_eq!(c.to_commit(), None, "4 is known committed");
    }

    #[test]
    fn the_final_commit_covers_what_is_not_confirmed() {
        let c = Commits::default();
        c.handed_over(6);
        c.passed(3, 3);
        send(&c);
        c.commit_confirmed(3);
        c.passed(6, 3);
        send(&c);
        // Revoked before the callback of 6 ran: it may have failed.
        c.revoked();
        let commit = c.to_commit().expect("6 is committed again");
        assert_eq!(commit.offset, 6);
        c.commit_sent(commit, true);
        assert_eq!(c.to_commit(), None);
        c.revoked();
        assert_eq!(c.to_commit(), None, "a synchronous commit is confirmed");
        assert_eq!(c.uncommitted(), 0);
    }

    #[test]
    fn confirmations_out_of_order_keep_the_highest() {
        let c = Commits::default();
        c.handed_over(6);
        c.passed(2, 2);
        send(&c);
        c.passed(6, 4);
        send(&c);
        c.commit_confirmed(6);
        c.commit_confirmed(2);
        c.revoked();
        assert_eq!(c.to_commit(), None);
        assert_eq!(c.uncommitted(), 0, "6 confirmed with what it covered");
    }

    #[test]
    fn redeliveries_do_not_hold_back_flow_control() {
        let c = Commits::default();
        c.handed_over(3);
        c.passed(11, 2);
        // The third record was offset 10 again.
        c.redelivered();
        assert_eq!(c.in_flight(), 0);
        send(&c);
        assert_eq!(c.uncommitted(), 0);
    }

    /// A partition revoked and assigned again gets new bookkeeping; the
    /// old assignment's late callbacks land on the new one (they name only
    /// topic and partition) and must neither skip nor block its commits.
    #[test]
    fn a_new_assignment_ignores_the_old_ones_callbacks() {
        let old = Commits::default();
        old.handed_over(10);
        old.passed(105, 5);
        send(&old);
        old.passed(110, 5);
        old.revoked();
        let last = old.to_commit().expect("the final commit");
        old.commit_sent(last, true);

        // The group resumes at 110 under the next assignment.
        let new = Commits::default();
        new.commit_failed(105);
        new.commit_confirmed(105);
        assert_eq!(new.to_commit(), None, "nothing finished yet");
        new.handed_over(3);
        new.passed(113, 3);
        assert_eq!(send(&new), Some(113));
        new.commit_failed(105);
        assert_eq!(new.to_commit(), None, "113 is still on its way");
        new.revoked();
        assert_eq!(
            new.to_commit().map(|c| c.offset),
            Some(113),
            "113 was never confirmed: the final commit sends it"
        );
    }
}
