//! The dedup window: which webhook ids were published, for how long, and
//! which are being published right now.
//!
//! A request claims its id. The first claim publishes; a repeat while it is
//! in flight waits for its outcome; a repeat after it succeeded is answered
//! from the window without publishing; after a failure the id is free
//! again, so the sender's retry publishes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

enum Entry {
    /// Being published; the sender is dropped when that ends.
    InFlight(watch::Receiver<()>),
    /// Published as `event_id` at `at`.
    Done { event_id: String, at: Instant },
}

struct State {
    entries: HashMap<String, Entry>,
    /// Published ids, oldest first, for expiry and the capacity bound.
    order: VecDeque<(Instant, String)>,
}

/// The ids seen within `window`, at most `capacity` of them.
#[derive(Clone)]
pub(crate) struct Dedup {
    state: Arc<Mutex<State>>,
    window: Duration,
    capacity: usize,
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedup")
            .field("window", &self.window)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// What a claim found.
pub(crate) enum Claim {
    /// Nobody published this id: publish, then [`Publishing::done`].
    First(Publishing),
    /// Published already, as this event id.
    Duplicate(String),
}

/// The right to publish an id; dropping it without
/// [`done`](Publishing::done) frees the id.
pub(crate) struct Publishing {
    dedup: Dedup,
    id: String,
    _running: watch::Sender<()>,
    finished: bool,
}

impl Publishing {
    /// The id was published as `event_id`.
    pub(crate) fn done(mut self, event_id: String) {
        let now = Instant::now();
        let mut state = self.dedup.lock();
        state
            .entries
            .insert(self.id.clone(), Entry::Done { event_id, at: now });
        state.order.push_back((now, self.id.clone()));
        self.dedup.evict(&mut state, now);
        self.finished = true;
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        if !self.finished {
            let mut state = self.dedup.lock();
            if matches!(state.entries.get(&self.id), Some(Entry::InFlight(_))) {
                state.entries.remove(&self.id);
            }
        }
    }
}

impl Dedup {
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                entries: HashMap::new(),
                order: VecDeque::new(),
            })),
            window,
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `id`, waiting while another request publishes it.
    pub(crate) async fn claim(&self, id: &str) -> Claim {
        loop {
            let mut waiting = {
                let mut state = self.lock();
                self.evict(&mut state, Instant::now());
                match state.entries.get(id) {
                    Some(Entry::Done { event_id, .. }) => {
                        return Claim::Duplicate(event_id.clone());
                    }
                    Some(Entry::InFlight(running)) => running.clone(),
                    None => {
                        let (running, watching) = watch::channel(());
                        state
                            .entries
                            .insert(id.to_owned(), Entry::InFlight(watching));
                        return Claim::First(Publishing {
                            dedup: self.clone(),
                            id: id.to_owned(),
                            _running: running,
                            finished: false,
                        });
                    }
                }
            };
            // Returns when the publisher finishes, either way.
            let _ = waiting.changed().await;
        }
    }

    /// Forgets ids older than the window, and the oldest beyond capacity.
    fn evict(&self, state: &mut State, now: Instant) {
        while let Some((at, _)) = state.order.front() {
            let expired = now.saturating_duration_since(*at) >= self.window;
            if !expired && state.order.len() <= self.capacity {
                break;
            }
            let (at, id) = state.order.pop_front().expect("a front entry");
            // Only the entry this slot recorded: the id may have been
            // published again since.
            if matches!(state.entries.get(&id), Some(Entry::Done { at: done, .. }) if *done == at) {
                state.entries.remove(&id);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(claim: Claim) -> Publishing {
        match claim {
            Claim::First(p) => p,
            Claim::Duplicate(id) => panic!("a duplicate of {id}"),
        }
    }

    #[tokio::test]
    async fn a_published_id_is_a_duplicate_within_the_window() {
        let dedup = Dedup::new(Duration::from_millis(200), 10);
        first(dedup.claim("a").await).done("ev-a".into());
        assert!(matches!(dedup.claim("a").await, Claim::Duplicate(id) if id == "ev-a"));
        tokio::time::sleep(Duration::from_millis(250)).await;
        first(dedup.claim("a").await).done("ev-a2".into());
    }

    #[tokio::test]
    async fn a_failed_publish_frees_the_id() {
        let dedup = Dedup::new(Duration::from_secs(60), 10);
        drop(first(dedup.claim("a").await));
        assert_eq!(dedup.len(), 0);
        first(dedup.claim("a").await).done("ev".into());
    }

    #[tokio::test]
    async fn a_repeat_in_flight_waits_for_the_outcome() {
        let dedup = Dedup::new(Duration::from_secs(60), 10);
        let publishing = first(dedup.claim("a").await);
        let repeat = tokio::spawn({
            let dedup = dedup.clone();
            async move {
                match dedup.claim("a").await {
                    Claim::Duplicate(id) => id,
                    Claim::First(_) => "published twice".into(),
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!repeat.is_finished());
        publishing.done("ev".into());
        assert_eq!(repeat.await.unwrap(), "ev");
    }

    #[tokio::test]
    async fn capacity_forgets_the_oldest() {
        let dedup = Dedup::new(Duration::from_secs(60), 2);
        for id in ["a", "b", "c"] {
            first(dedup.claim(id).await).done(format!("ev-{id}"));
        }
        assert_eq!(dedup.len(), 2);
        assert!(matches!(dedup.claim("c").await, Claim::Duplicate(_)));
        first(dedup.claim("a").await).done("ev-a".into());
    }
}
