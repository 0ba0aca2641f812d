//! The CRC instances of FORMAT.md (names from the `crc` crate's catalogue).
//!
//! With the `fast-crc` feature the 32- and 24-bit checks use 16-lane tables
//! (16 KiB each, several times faster on a host); without it, one 256-entry
//! table each (1 KiB), which suits a microcontroller. The results are the same.

use crc::{Crc, CRC_16_IBM_3740, CRC_24_OPENPGP, CRC_32_ISCSI, CRC_8_AUTOSAR};

#[cfg(feature = "fast-crc")]
type Lanes = crc::Table<16>;
/// The CRC implementation in use (table lanes).
pub type LanesType = Lanes;
#[cfg(not(feature = "fast-crc"))]
type Lanes = crc::Table<1>;

/// CRC-32C: region header check, marker check, long record check, batch and
/// sync coverage checks, key hash.
pub(crate) static CRC32C: Crc<u32, Lanes> = Crc::<u32, Lanes>::new(&CRC_32_ISCSI);
/// CRC-24/OPENPGP: short record check.
pub(crate) static CRC24: Crc<u32, Lanes> = Crc::<u32, Lanes>::new(&CRC_24_OPENPGP);
/// CRC-16/IBM-3740: long header check.
pub(crate) static CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);
/// CRC-8/AUTOSAR: short header check.
pub(crate) static CRC8: Crc<u8> = Crc::<u8>::new(&CRC_8_AUTOSAR);

/// The 32-bit key hash the index uses: CRC-32C of the key.
#[inline]
pub fn key_hash(key: &[u8]) -> u32 {
    CRC32C.checksum(key)
}

/// The 8-bit key hash stored in record headers: the top byte of [`key_hash`].
#[inline]
pub const fn short_hash(hash: u32) -> u8 {
    (hash >> 24) as u8
}

/// The CRC-32C instance (for tests and tools that recompute batch and
/// coverage checks).
pub static CRC32C_PUBLIC: &Crc<u32, Lanes> = &CRC32C;
