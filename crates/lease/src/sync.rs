//! Synchronisation primitives of the loom model's in-memory store: `loom`'s
//! (the registry itself locks through gw-persist's `FileLock`).

pub(crate) use loom::sync::Mutex;
