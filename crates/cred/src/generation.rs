//! Connection generations (THREATS CRED-6): every connection to a gateway
//! gets a new generation; a write from a connection whose generation is no
//! longer current is refused.
//!
//! Within a process, [`Generations`] keeps the current generation per
//! gateway behind one mutex: `begin` (which also bumps the stored
//! generation) and a guarded write cannot interleave, so a stale writer
//! never writes. Across processes, the stored generation is checked again
//! inside the locked document update. Model-checked with loom.

use std::collections::HashMap;

use crate::sync::Mutex;

/// A connection's generation for one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    key: String,
    value: u64,
}

impl Generation {
    /// The generation number.
    pub fn value(&self) -> u64 {
        self.value
    }
    /// The gateway key it belongs to.
    pub fn gateway(&self) -> &str {
        &self.key
    }
}

/// The in-process generation manager.
#[derive(Debug)]
pub(crate) struct Generations {
    current: Mutex<HashMap<String, u64>>,
}

impl Generations {
    pub(crate) fn new() -> Self {
        Self { current: Mutex::new(HashMap::new()) }
    }

    /// Starts a new generation for `key`: `bump` moves the stored generation
    /// on and returns it; it becomes current here.
    pub(crate) fn begin<E>(&self, key: &str, bump: impl FnOnce() -> Result<u64, E>) -> Result<Generation, E> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let value = bump()?;
        cur.insert(key.to_owned(), value);
        Ok(Generation { key: key.to_owned(), value })
    }

    /// Runs `write` with the current generation of `gen`'s gateway, with no
    /// `begin` able to interleave; `write` refuses when they differ.
    pub(crate) fn guard<T, E>(&self, generation: &Generation, write: impl FnOnce(u64) -> Result<T, E>) -> Result<T, E> {
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        // A generation begun by another process is not known here: the
        // stored check inside the write decides.
        let current = cur.get(&generation.key).copied().unwrap_or(generation.value);
        write(current)
    }
}

/// Loom models (`RUSTFLAGS="--cfg loom" cargo test --release -p gw-cred --lib loom`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, Ordering};
    use loom::thread;

    /// Two connections racing: each begins a generation, then writes. In
    /// every interleaving, a write only happens while its generation is the
    /// newest begun, so the older connection never writes after the newer
    /// one began, and the stored generation ends at 2.
    #[test]
    fn loom_stale_generation_never_writes() {
        loom::model(|| {
            let gens = Arc::new(Generations::new());
            let stored = Arc::new(AtomicU64::new(0));
            let log = Arc::new(crate::sync::Mutex::new(Vec::<u64>::new()));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (gens, stored, log) = (Arc::clone(&gens), Arc::clone(&stored), Arc::clone(&log));
                    thread::spawn(move || {
                        let g = gens
                            .begin("ws://127.0.0.1:1", || Ok::<_, ()>(stored.fetch_add(1, Ordering::SeqCst) + 1))
                            .unwrap();
                        let _ = gens.guard(&g, |current| {
                            if current != g.value() {
                                return Err(());
                            }
                            // The stored check, as inside the document update.
                            assert_eq!(stored.load(Ordering::SeqCst), g.value(), "a stale generation is writing");
                            log.lock().unwrap().push(g.value());
                            Ok(())
                        });
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(stored.load(Ordering::SeqCst), 2);
            let log = log.lock().unwrap();
            // Generation 1 may write only before generation 2 began; once 2
            // began, only 2 writes: the log is sorted and never holds a 1 after a 2.
            assert!(log.windows(2).all(|w| w[0] <= w[1]), "stale write after a newer one: {log:?}");
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stale_generation_is_refused() {
        let gens = Generations::new();
        let g1 = gens.begin("k", || Ok::<_, ()>(1)).unwrap();
        let g2 = gens.begin("k", || Ok::<_, ()>(2)).unwrap();
        assert_eq!(gens.guard(&g1, |cur| if cur == g1.value() { Ok(()) } else { Err(cur) }), Err(2));
        assert_eq!(gens.guard(&g2, |cur| if cur == g2.value() { Ok(()) } else { Err(cur) }), Ok(()));
    }
}
