//! The regions a host store runs on: [`MmapRegion`] (a region file,
//! memory-mapped; `mmap.rs` holds the crate's only `unsafe`, each block
//! argued with a `// SAFETY:` comment), [`MemRegion`] (bytes in memory:
//! snapshots of live stores, device images, the erased stand-in of a missing
//! file) and `AnyRegion`, the one of the two that the store's core runs on.

mod mem;
#[allow(unsafe_code)] // the project's only `unsafe`: creating the mapping, and the write-back hint
mod mmap;
#[cfg(unix)]
mod tail;

pub(crate) use mem::AnyRegion;
pub use mem::MemRegion;
pub(crate) use mmap::{usable_len, ERASED_CHUNK};
pub use mmap::{MmapRegion, ERASE_UNIT, WRITE_UNIT};
