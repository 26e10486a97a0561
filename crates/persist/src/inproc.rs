//! The in-process half of a document lock.
//!
//! `flock` already excludes threads that open the lock file separately, but a
//! thread that finds it held must poll. Threads of one process therefore
//! queue here first, on a condition variable keyed by the lock file's
//! identity, and only the one that gets through takes the `flock` (which
//! excludes other processes). [`crate::FileLock`] is the two together.
//! Model-checked with loom; under `--cfg loom` the table is public (hidden)
//! so gw-lease's models run its transactions under this very lock.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Duration;

use crate::sync::{Condvar, Mutex};

/// A set of keys, each held by at most one guard at a time.
#[derive(Debug)]
pub struct KeyedLocks<K: Eq + Hash + Clone> {
    held: Mutex<HashSet<K>>,
    freed: Condvar,
}

/// Holds a key until dropped.
#[derive(Debug)]
pub struct KeyGuard<'a, K: Eq + Hash + Clone> {
    locks: &'a KeyedLocks<K>,
    key: K,
}

impl<K: Eq + Hash + Clone> KeyedLocks<K> {
    /// An empty table.
    pub fn new() -> Self {
        Self { held: Mutex::new(HashSet::new()), freed: Condvar::new() }
    }

    /// Waits until `key` is free (at most `timeout`), then holds it.
    /// Returns `None` on timeout.
    pub fn lock(&self, key: K, timeout: Duration) -> Option<KeyGuard<'_, K>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        #[cfg(not(loom))]
        let deadline = std::time::Instant::now() + timeout;
        while held.contains(&key) {
            #[cfg(not(loom))]
            {
                let now = std::time::Instant::now();
                if now >= deadline {
                    return None;
                }
                held = self.freed.wait_timeout(held, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
            }
            #[cfg(loom)]
            {
                let _ = timeout;
                held = self.freed.wait(held).unwrap_or_else(|p| p.into_inner());
            }
        }
        held.insert(key.clone());
        Some(KeyGuard { locks: self, key })
    }

    /// How many keys are held (for the models).
    #[cfg(any(test, loom))]
    pub fn held_count(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl<K: Eq + Hash + Clone> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone> Drop for KeyGuard<'_, K> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.key);
        drop(held);
        self.locks.freed.notify_all();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_holder_per_key_and_timeouts() {
        let locks = KeyedLocks::new();
        let g = locks.lock(1u32, Duration::from_secs(1)).unwrap();
        assert!(locks.lock(1u32, Duration::from_millis(20)).is_none(), "same key times out");
        let other = locks.lock(2u32, Duration::from_millis(20));
        assert!(other.is_some(), "other keys are independent");
        drop(other);
        drop(g);
        assert!(locks.lock(1u32, Duration::from_millis(20)).is_some());
        assert_eq!(locks.held_count(), 0);
    }

    #[test]
    fn threads_exclude_each_other() {
        let locks = Arc::new(KeyedLocks::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (locks, inside) = (Arc::clone(&locks), Arc::clone(&inside));
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _g = locks.lock("k", Duration::from_secs(30)).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}

/// Loom models of the in-process lock (`RUSTFLAGS="--cfg loom" cargo test
/// --release -p gw-persist --lib loom`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    /// Two threads on one key are never inside together, every waiter gets
    /// through (no lost wake-up), and the table is empty afterwards.
    #[test]
    fn loom_keyed_lock_excludes_and_wakes() {
        loom::model(|| {
            let locks = Arc::new(KeyedLocks::new());
            let inside = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (locks, inside, done) = (Arc::clone(&locks), Arc::clone(&inside), Arc::clone(&done));
                    thread::spawn(move || {
                        let g = locks.lock(7u8, Duration::from_secs(1)).expect("loom waits without timeout");
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders of one key");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(g);
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(done.load(Ordering::SeqCst), 2);
            assert_eq!(locks.held_count(), 0);
        });
    }

    /// Three contenders for one key: when the holder leaves, `notify_all`
    /// wakes both waiters and only one may take the key — each must check
    /// again under the mutex (a waiter that took the key on wake-up alone,
    /// `if` instead of `while`, would share it). Two threads cannot show
    /// this: the only waiter always finds the key free.
    #[test]
    fn loom_three_contenders_take_turns() {
        loom::model(|| {
            let locks = Arc::new(KeyedLocks::new());
            let inside = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    let (locks, inside) = (Arc::clone(&locks), Arc::clone(&inside));
                    thread::spawn(move || {
                        let g = locks.lock(7u8, Duration::from_secs(1)).expect("loom waits without timeout");
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders of one key");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(g);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(locks.held_count(), 0);
        });
    }

    /// Different keys never wait for each other.
    #[test]
    fn loom_distinct_keys_are_independent() {
        loom::model(|| {
            let locks = Arc::new(KeyedLocks::new());
            let g1 = locks.lock(1u8, Duration::from_secs(1)).unwrap();
            let t = {
                let locks = Arc::clone(&locks);
                thread::spawn(move || {
                    let _g2 = locks.lock(2u8, Duration::from_secs(1)).unwrap();
                })
            };
            t.join().unwrap();
            drop(g1);
            assert_eq!(locks.held_count(), 0);
        });
    }
}
