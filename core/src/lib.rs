//! twinkv-core: a crash-resilient key-value journal over two byte regions.
//!
//! Writes are appended as checksummed records to the active of two regions
//! (A and B). When the active region passes its high-water mark, the live
//! state is compacted from memory into the other region, which is committed
//! and becomes active. A switch interrupted at any instant recovers, and the
//! format works on NOR flash, where bytes are programmed once between erases.
//! FORMAT.md (in this package and at the repository root) defines every byte.
//!
//! `#![no_std]`, no allocator, no `unsafe`. Storage is reached only through
//! the [`Region`] trait; [`RamRegion`] is a strict, fault-injecting RAM
//! implementation for tests and firmware.
//!
//! # Features
//!
//! All additive, none on by default.
//!
//! - `embedded-storage`: `FlashRegion`, `SharedFlashRegion`,
//!   `flash_geometry` and `flash_scratch_len`, regions over any
//!   `embedded_storage::nor_flash::NorFlash`, and the `FlashStore` alias.
//! - `critical-section`: `MutexFlashRegion` (and `MutexFlashStore`), both
//!   regions on one flash behind a `critical_section::Mutex`, so the store is
//!   `Send`; implies `embedded-storage`.
//! - `serde`: typed values through postcard, `Store::get_as` and
//!   `Store::set_as` (no alloc), the bytes the host store's methods of the
//!   same names write.
//! - `flash-sim`: `SimFlash`, a fault-injecting NOR flash simulator (no_std,
//!   no alloc); implies `embedded-storage`.
//! - `defmt`: `defmt::Format` for the public types.
//! - `crc-tables`: one 256-entry lookup table per CRC (1.75 KiB in all);
//!   without it every CRC is computed bit by bit, with no table in the image.
//! - `fast-crc`: as `crc-tables`, with a 16-lane CRC-32C table (16 KiB),
//!   several times faster checks on a host.
//! - `hw-crc`: as `fast-crc`, and CRC-32C over pieces of 32 bytes or more
//!   through the `crc32c` crate, on the CPU's CRC instructions where it has
//!   them (SSE4.2, ARMv8 CRC); needs `std`.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aliases;
mod config;
mod damage;
mod error;
pub mod format;
mod index;
mod journal;
mod medium;
mod store;
#[cfg(feature = "_testkit")]
extern crate std;
#[cfg(feature = "_testkit")]
pub mod testkit;

#[cfg(feature = "critical-section")]
pub use aliases::MutexFlashStore;
pub use aliases::RamStore;
#[cfg(feature = "embedded-storage")]
pub use aliases::{flash_scratch_len, FlashStore};
pub use config::{fill_limit, Config, ConfigError, BP_ONE};
pub use damage::{Damage, Scope, DAMAGE_ENTRIES};
pub use error::{Error, Result};
pub use index::{probe, FixedIndex, Index, IndexFull};
pub use journal::RegionClass;
pub use medium::fault::{Fault, TearMode};
#[cfg(feature = "embedded-storage")]
pub use medium::flash::{
    flash_geometry, FlashConfigError, FlashError, FlashRegion, SharedFlashRegion, MAX_READ_SIZE,
};
pub use medium::ram::{RamError, RamRegion, RamStats};
pub use medium::region::{
    all_erased, Geometry, MappedRegion, Region, ERASED, MAX_ERASE_UNIT, WRITE_UNITS,
};
#[cfg(feature = "embedded-storage")]
pub use medium::share::FlashCell;
#[cfg(feature = "critical-section")]
pub use medium::share::MutexFlashRegion;
#[cfg(feature = "flash-sim")]
pub use medium::sim::{Reprogram, SimError, SimFlash, SimStats, Wear, WEAK_UNITS};
pub use store::{Op, RegionId, Scratch, Stats, Store};

/// The Rust blocks of this crate's README (core/README.md, packaged with the
/// crate), compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
