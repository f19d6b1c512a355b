//! Which offsets of a partition are finished, and up to where it is safe to
//! commit.

use std::collections::VecDeque;

/// The offsets of one partition that were handed out and not yet passed by
/// the commit position, in the order they arrived (which is offset order).
///
/// A record counts as finished once it was handled or dead-lettered. The
/// commit position is one past the last record of the longest finished
/// prefix: everything below it is done, and nothing unfinished is ever
/// below it, whatever order records finish in.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    /// (offset, timestamp ms, finished), ascending by offset. Offsets may
    /// have gaps (compaction, transaction markers).
    pending: VecDeque<(i64, i64, bool)>,
    /// One past the last offset of the finished prefix, once there is one.
    committable: Option<i64>,
}

impl OffsetTracker {
    /// Records that `offset` was handed to a handler. Offsets must arrive in
    /// ascending order; a repeat or an older offset (a redelivery after a
    /// seek) is ignored and reported as `false`.
    pub(crate) fn start(&mut self, offset: i64, timestamp_ms: i64) -> bool {
        let newest = self
            .pending
            .back()
            .map(|&(o, _, _)| o)
            .or(self.committable.map(|c| c.saturating_sub(1)));
        if newest.is_some_and(|newest| offset <= newest) {
            return false;
        }
        self.pending.push_back((offset, timestamp_ms, false));
        true
    }

    /// Marks `offset` finished and moves the commit position past every
    /// finished record at the front; returns how many records it passed.
    pub(crate) fn finish(&mut self, offset: i64) -> usize {
        if let Ok(i) = self.pending.binary_search_by_key(&offset, |&(o, _, _)| o) {
            self.pending[i].2 = true;
        }
        let mut passed = 0;
        while let Some(&(offset, _, true)) = self.pending.front() {
            self.pending.pop_front();
            self.committable = Some(offset.saturating_add(1));
            passed += 1;
        }
        passed
    }

    /// The timestamp of the oldest record not yet committable.
    pub(crate) fn oldest_timestamp(&self) -> Option<i64> {
        self.pending.front().map(|&(_, ts, _)| ts)
    }

    /// The offset to commit (the next record to read after a restart).
    pub(crate) fn committable(&self) -> Option<i64> {
        self.committable
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn commits_only_the_finished_prefix() {
        let mut t = OffsetTracker::default();
        for o in [10, 11, 13, 14] {
            assert!(t.start(o, o * 10));
        }
        assert_eq!(t.committable(), None);
        assert_eq!(t.finish(11), 0);
        assert_eq!(t.committable(), None, "10 is still running");
        assert_eq!(t.oldest_timestamp(), Some(100));
        assert_eq!(t.finish(10), 2);
        assert_eq!(t.committable(), Some(12));
        t.finish(14);
        assert_eq!(t.committable(), Some(12), "13 is still running");
        t.finish(13);
        assert_eq!(t.committable(), Some(15));
        assert!(!t.start(14, 0), "redelivered offsets are refused");
        assert!(t.start(15, 0));
    }

    /// Ascending offsets with gaps (compaction, transaction markers), and
    /// the same offsets in the order their records finish.
    fn offsets_and_finish_order() -> impl Strategy<Value = (Vec<i64>, Vec<i64>)> {
        (0i64..1000, proptest::collection::vec(1i64..4, 1..200)).prop_flat_map(|(first, gaps)| {
            let offsets: Vec<i64> = gaps
                .iter()
                .scan(first, |o, gap| {
                    *o += gap;
                    Some(*o)
                })
                .collect();
            (Just(offsets.clone()), Just(offsets).prop_shuffle())
        })
    }

    proptest! {
        /// Whatever order records finish in, the commit position never
        /// passes an unfinished record and reaches the end once all are
        /// finished.
        #[test]
        fn never_commits_past_unfinished_work(
            (offsets, finish_order) in offsets_and_finish_order(),
        ) {
            let mut t = OffsetTracker::default();
            for &o in &offsets {
                prop_assert!(t.start(o, 0));
            }
            let mut finished = std::collections::HashSet::new();
            for o in finish_order {
                t.finish(o);
                finished.insert(o);
                if let Some(c) = t.committable() {
                    for &x in offsets.iter().filter(|&&x| x < c) {
                        prop_assert!(finished.contains(&x), "committed {c} past unfinished {x}");
                    }
                }
            }
            prop_assert_eq!(t.committable(), Some(offsets.last().unwrap() + 1));
        }
    }
}
