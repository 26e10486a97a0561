//! The synchronisation primitives gw-anchor uses, from `loom` when model
//! checking (`--cfg loom`) and from `std` otherwise (the tokio `loom/` shim).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
