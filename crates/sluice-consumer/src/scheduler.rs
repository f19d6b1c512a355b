//! Which records of a partition may start now: records with the same key run
//! one after another in offset order, different keys run side by side up to
//! a limit.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// The FNV-1a offset basis: where a hash of nothing starts.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `hash`.
pub(crate) fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Keys arrive hashed already: the map uses the hash as it is.
#[derive(Debug, Default)]
struct KeyHash(u64);

impl Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in anyway.
        self.0 = fnv1a(self.0, bytes);
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// Empty queues kept for reuse, so that a key seen again needs no new
/// allocation.
const SPARE_QUEUES: usize = 64;

/// Per-key FIFO queues with a cap on how many keys run at once.
///
/// A key is identified by a hash of its bytes: two keys that collide only
/// run one after another, which costs parallelism, never order.
#[derive(Debug)]
pub(crate) struct KeyScheduler<R> {
    limit: usize,
    running: usize,
    keys: HashMap<u64, KeyQueue<R>, BuildHasherDefault<KeyHash>>,
    /// Keys whose next record waits only for a free slot, oldest first.
    ready: VecDeque<u64>,
    spare: Vec<VecDeque<R>>,
}

#[derive(Debug)]
struct KeyQueue<R> {
    running: bool,
    waiting: VecDeque<R>,
}

impl<R> KeyScheduler<R> {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            running: 0,
            keys: HashMap::default(),
            ready: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    /// Queues a record behind earlier records of its key.
    pub(crate) fn push(&mut self, key: u64, record: R) {
        let spare = &mut self.spare;
        let queue = self.keys.entry(key).or_insert_with(|| KeyQueue {
            running: false,
            waiting: spare.pop().unwrap_or_default(),
        });
        queue.waiting.push_back(record);
        if !queue.running && queue.waiting.len() == 1 {
            self.ready.push_back(key);
        }
    }

    /// The next record that may start, if a slot is free and one is ready.
    pub(crate) fn next(&mut self) -> Option<(u64, R)> {
        if self.running >= self.limit {
            return None;
        }
        let key = self.ready.pop_front()?;
        let queue = self.keys.get_mut(&key).expect("ready keys have a queue");
        let record = queue.waiting.pop_front().expect("ready keys have a record");
        queue.running = true;
        self.running += 1;
        Some((key, record))
    }

    /// The running record of `key` finished.
    pub(crate) fn done(&mut self, key: u64) {
        let Some(queue) = self.keys.get_mut(&key) else {
            return;
        };
        if !queue.running {
            return;
        }
        queue.running = false;
        self.running -= 1;
        if queue.waiting.is_empty() {
            if let Some(queue) = self.keys.remove(&key)
                && self.spare.len() < SPARE_QUEUES
            {
                self.spare.push(queue.waiting);
            }
        } else {
            self.ready.push_back(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.running
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn same_key_waits_other_keys_run() {
        let mut s = KeyScheduler::new(8);
        s.push(1, "a1");
        s.push(1, "a2");
        s.push(2, "b1");
        assert_eq!(s.next(), Some((1, "a1")));
        assert_eq!(s.next(), Some((2, "b1")));
        assert_eq!(s.next(), None, "a2 waits for a1");
        s.done(1);
        assert_eq!(s.next(), Some((1, "a2")));
    }

    #[test]
    fn limit_caps_running_records() {
        let mut s = KeyScheduler::new(2);
        for k in 0..5 {
            s.push(k, k);
        }
        assert!(s.next().is_some() && s.next().is_some());
        assert_eq!(s.next(), None);
        assert_eq!(s.running(), 2);
        s.done(0);
        assert_eq!(s.next(), Some((2, 2)));
    }

    proptest! {
        /// Any interleaving of arrivals and completions starts each key's
        /// records in arrival order, never two of one key at once, and never
        /// more than the limit.
        #[test]
        fn per_key_order_and_limit_hold(
            keys in proptest::collection::vec(0u64..6, 1..300),
            limit in 1usize..5,
            finish_picks in proptest::collection::vec(any::<proptest::sample::Index>(), 300),
        ) {
            let mut s = KeyScheduler::new(limit);
            let mut running: Vec<(u64, usize)> = Vec::new();
            let mut started: HashMap<u64, Vec<usize>> = HashMap::new();
            let mut picks = finish_picks.into_iter();
            for (i, &key) in keys.iter().enumerate() {
                s.push(key, i);
                while let Some((k, r)) = s.next() {
                    prop_assert!(running.iter().all(|&(rk, _)| rk != k));
                    running.push((k, r));
                    started.entry(k).or_default().push(r);
                }
                prop_assert!(running.len() <= limit);
                if let Some(pick) = picks.next() && !running.is_empty() {
                    let (k, _) = running.swap_remove(pick.index(running.len()));
                    s.done(k);
                }
            }
            while !running.is_empty() {
                let (k, _) = running.remove(0);
                s.done(k);
                while let Some((k, r)) = s.next() {
                    running.push((k, r));
                    started.entry(k).or_default().push(r);
                }
            }
            let mut total = 0;
            for records in started.values() {
                prop_assert!(records.windows(2).all(|w| w[0] < w[1]));
                total += records.len();
            }
            prop_assert_eq!(total, keys.len());
        }
    }
}
