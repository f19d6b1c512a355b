//! The send buffer: the bytes a queued record holds, and the bound on all
//! of them that makes senders wait.

use std::sync::Arc;

use sluice_kafka::OutgoingRecord;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What librdkafka keeps per queued message beyond its bytes (its message
/// struct, the header list, the delivery state), rounded up.
const RECORD_OVERHEAD_BYTES: usize = 256;

/// The bytes a queued record holds: key, value, header names and values,
/// and [`RECORD_OVERHEAD_BYTES`].
pub(super) fn buffered_size(key: usize, value: usize, header_bytes: usize) -> usize {
    key.saturating_add(value)
        .saturating_add(header_bytes)
        .saturating_add(RECORD_OVERHEAD_BYTES)
}

/// [`buffered_size`] of a typed event's record.
pub(super) fn record_size(record: &OutgoingRecord) -> usize {
    buffered_size(record.key.len(), record.value.len(), record.header_bytes)
}

/// Bytes of records between enqueue and delivery, at most
/// `max_buffered_bytes`. A record's share is a permit that goes back when
/// it is dropped, in librdkafka's delivery callback.
pub(super) struct SendBuffer {
    bytes: Arc<Semaphore>,
    limit: usize,
}

impl SendBuffer {
    pub(super) fn new(max_buffered_bytes: u64) -> Self {
        let limit = usize::try_from(max_buffered_bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// Bytes taken and not yet given back.
    pub(super) fn used(&self) -> usize {
        self.limit.saturating_sub(self.bytes.available_permits())
    }

    /// Waits until there is room for a record of `size` bytes
    /// ([`buffered_size`]) and takes its share; `None` once the buffer is
    /// closed.
    pub(super) async fn reserve(&self, size: usize) -> Option<OwnedSemaphorePermit> {
        // A record larger than the whole buffer waits for all of it (it is
        // refused by `max_record_bytes` long before), never for ever.
        let size = size.min(self.limit);
        Arc::clone(&self.bytes)
            .acquire_many_owned(u32::try_from(size).unwrap_or(u32::MAX))
            .await
            .ok()
    }

    /// Refuses new shares and wakes every waiting [`reserve`](Self::reserve)
    /// with `None`. Shares already taken still go back.
    pub(super) fn close(&self) {
        self.bytes.close();
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::OwnedHeaders;
    use sluice_core::Envelope;
    use sluice_events::proto::EmailReceived;

    use super::*;

    fn record(key: usize, value: usize, header_bytes: usize) -> OutgoingRecord {
        OutgoingRecord {
            key: "k".repeat(key),
            value: vec![0; value],
            headers: OwnedHeaders::new(),
            header_bytes,
            envelope: Envelope::new::<EmailReceived>("/test"),
        }
    }

    #[tokio::test]
    async fn a_record_holds_its_bytes_until_its_share_is_dropped() {
        let buffer = SendBuffer::new(10_000);
        let share = buffer.reserve(record_size(&record(10, 100, 50))).await;
        assert_eq!(buffer.used(), 10 + 100 + 50 + RECORD_OVERHEAD_BYTES);
        drop(share);
        assert_eq!(buffer.used(), 0);
    }

    #[tokio::test]
    async fn a_record_larger_than_the_buffer_takes_all_of_it() {
        let buffer = SendBuffer::new(1_000);
        let share = buffer.reserve(record_size(&record(1, 5_000, 0))).await;
        assert!(share.is_some());
        assert_eq!(buffer.used(), 1_000);
    }

    #[tokio::test]
    async fn closing_wakes_a_waiting_sender_with_none() {
        let buffer = Arc::new(SendBuffer::new(1_000));
        let _all = buffer.reserve(record_size(&record(0, 1_000, 0))).await;
        let waiting = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move {
                buffer
                    .reserve(record_size(&record(0, 10, 0)))
                    .await
                    .is_none()
            }
        });
        tokio::task::yield_now().await;
        buffer.close();
        assert!(waiting.await.is_ok_and(|refused| refused));
        assert!(
            buffer
                .reserve(record_size(&record(0, 10, 0)))
                .await
                .is_none()
        );
    }

    #[test]
    fn a_huge_bound_is_capped_at_what_a_semaphore_holds() {
        let buffer = SendBuffer::new(u64::MAX);
        assert_eq!(buffer.limit, Semaphore::MAX_PERMITS);
        assert_eq!(buffer.used(), 0);
    }
}
