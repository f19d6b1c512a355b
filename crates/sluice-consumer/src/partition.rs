//! What the poll thread, a partition's worker and the status share about
//! one assigned partition.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::commit::Commits;

/// One assignment of one partition (a partition assigned again gets a new
/// one).
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub(crate) commits: Commits,
    /// Bytes of records handed to the worker and not finished yet
    /// ([`Record::held_bytes`](crate::Record::held_bytes)): the poll
    /// thread adds, the worker takes away.
    held_bytes: AtomicU64,
    /// The partition's high watermark from the client's statistics, or -1.
    pub(crate) high_watermark: AtomicI64,
    /// The group's committed offset from the client's statistics, or -1:
    /// the position of a partition on which nothing finished yet.
    pub(crate) group_committed: AtomicI64,
    /// The partition's low watermark from the client's statistics, or -1:
    /// where a group without commits starts (`earliest`).
    pub(crate) low_watermark: AtomicI64,
    /// Timestamp of the oldest record not yet committable, or -1.
    pub(crate) oldest_pending_ms: AtomicI64,
    /// Timestamp of the newest record received, or -1.
    pub(crate) newest_received_ms: AtomicI64,
}

impl Default for PartitionState {
    fn default() -> Self {
        Self {
            commits: Commits::default(),
            held_bytes: AtomicU64::new(0),
            high_watermark: AtomicI64::new(-1),
            group_committed: AtomicI64::new(-1),
            low_watermark: AtomicI64::new(-1),
            oldest_pending_ms: AtomicI64::new(-1),
            newest_received_ms: AtomicI64::new(-1),
        }
    }
}

impl PartitionState {
    /// Records of `bytes` were handed to the worker.
    pub(crate) fn hold(&self, bytes: u64) {
        self.held_bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// A record of `bytes` is no longer held.
    pub(crate) fn release(&self, bytes: u64) {
        self.held_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes handed over and not finished.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.held_bytes.load(Ordering::Acquire)
    }
}
