//! Region header (FORMAT.md §2): 48 bytes at offset 0.
//!
//! ```text
//!  0 magic "twKV" | 4 version u16 | 6 W u8 | 7 0x00 | 8 store id u64
//! 16 generation u64 | 24 region size u32 | 28 erase unit u32
//! 32 max value u32 | 36 max key u16 | 38 read unit u16
//! 40 high-water u16 | 42 max-fill u16 | 44 CRC-32C over 0..44
//! ```

use core::mem::size_of;

use super::checks::CRC32C;
use super::{Seal, FORMAT_VERSION, MAGIC};

// Field offsets, each derived from the one before it (the diagram above).
/// Offset of the magic `"twKV"`.
pub const MAGIC_OFFSET: usize = 0;
/// Offset of the format version (`u16`).
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC.len();
/// Offset of the write unit `W` (`u8`).
pub const WRITE_UNIT_OFFSET: usize = VERSION_OFFSET + size_of::<u16>();
/// Offset of the reserved byte (`0x00`).
pub const RESERVED_OFFSET: usize = WRITE_UNIT_OFFSET + size_of::<u8>();
/// Offset of the store id (`u64`).
pub const STORE_ID_OFFSET: usize = RESERVED_OFFSET + size_of::<u8>();
/// Offset of the generation (`u64`).
pub const GENERATION_OFFSET: usize = STORE_ID_OFFSET + size_of::<u64>();
/// Offset of the region size (`u32`).
pub const REGION_SIZE_OFFSET: usize = GENERATION_OFFSET + size_of::<u64>();
/// Offset of the erase unit (`u32`).
pub const ERASE_UNIT_OFFSET: usize = REGION_SIZE_OFFSET + size_of::<u32>();
/// Offset of the max value length (`u32`).
pub const MAX_VALUE_OFFSET: usize = ERASE_UNIT_OFFSET + size_of::<u32>();
/// Offset of the max key length (`u16`).
pub const MAX_KEY_OFFSET: usize = MAX_VALUE_OFFSET + size_of::<u32>();
/// Offset of the read unit (`u16`).
pub const READ_UNIT_OFFSET: usize = MAX_KEY_OFFSET + size_of::<u16>();
/// Offset of the high-water ratio (`u16`).
pub const HIGH_WATER_OFFSET: usize = READ_UNIT_OFFSET + size_of::<u16>();
/// Offset of the max-fill ratio (`u16`).
pub const MAX_FILL_OFFSET: usize = HIGH_WATER_OFFSET + size_of::<u16>();
/// Offset of the header check (CRC-32C over the bytes before it, `u32`).
pub const CHECK_OFFSET: usize = MAX_FILL_OFFSET + size_of::<u16>();

/// Encoded size of the region header.
pub const HEADER_LEN: usize = CHECK_OFFSET + size_of::<u32>();

/// The decoded region header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RegionHeader {
    /// Ties region A to its partner B. Never 0 nor `u64::MAX`.
    pub store_id: u64,
    /// Generation, 1 ..= `u64::MAX` − 1.
    pub generation: u64,
    /// This region's size in bytes.
    pub region_size: u32,
    /// Erase unit in bytes.
    pub erase_unit: u32,
    /// Write unit in bytes.
    pub write_unit: u8,
    /// Read unit in bytes (informational).
    pub read_unit: u16,
    /// Largest key in bytes.
    pub max_key_len: u16,
    /// Largest value in bytes.
    pub max_value_len: u32,
    /// High-water ratio in basis points.
    pub high_water_bp: u16,
    /// Max-fill ratio in basis points.
    pub max_fill_bp: u16,
}

/// Why 48 bytes are not a region header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeaderError {
    /// Every byte reads erased.
    Erased,
    /// Not a twinkv header (magic, check or field rules fail).
    Invalid,
    /// A twinkv header of a format version this crate does not read.
    UnsupportedVersion(u16),
}

impl RegionHeader {
    /// What this region's record and marker checks cover besides their own
    /// bytes: its store id and generation.
    pub const fn seal(&self) -> Seal {
        Seal {
            store_id: self.store_id,
            generation: self.generation,
        }
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        put(&mut b, MAGIC_OFFSET, &MAGIC);
        put(&mut b, VERSION_OFFSET, &FORMAT_VERSION.to_le_bytes());
        b[WRITE_UNIT_OFFSET] = self.write_unit;
        b[RESERVED_OFFSET] = 0;
        put(&mut b, STORE_ID_OFFSET, &self.store_id.to_le_bytes());
        put(&mut b, GENERATION_OFFSET, &self.generation.to_le_bytes());
        put(&mut b, REGION_SIZE_OFFSET, &self.region_size.to_le_bytes());
        put(&mut b, ERASE_UNIT_OFFSET, &self.erase_unit.to_le_bytes());
        put(&mut b, MAX_VALUE_OFFSET, &self.max_value_len.to_le_bytes());
        put(&mut b, MAX_KEY_OFFSET, &self.max_key_len.to_le_bytes());
        put(&mut b, READ_UNIT_OFFSET, &self.read_unit.to_le_bytes());
        put(&mut b, HIGH_WATER_OFFSET, &self.high_water_bp.to_le_bytes());
        put(&mut b, MAX_FILL_OFFSET, &self.max_fill_bp.to_le_bytes());
        let check = CRC32C.checksum(&b[..CHECK_OFFSET]);
        put(&mut b, CHECK_OFFSET, &check.to_le_bytes());
        b
    }

    /// Decodes and validates a header.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, HeaderError> {
        if crate::all_erased(b) {
            return Err(HeaderError::Erased);
        }
        if b[MAGIC_OFFSET..VERSION_OFFSET] != MAGIC {
            return Err(HeaderError::Invalid);
        }
        if CRC32C.checksum(&b[..CHECK_OFFSET]) != u32_at(b, CHECK_OFFSET) {
            return Err(HeaderError::Invalid);
        }
        let version = u16_at(b, VERSION_OFFSET);
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let h = RegionHeader {
            write_unit: b[WRITE_UNIT_OFFSET],
            store_id: u64_at(b, STORE_ID_OFFSET),
            generation: u64_at(b, GENERATION_OFFSET),
            region_size: u32_at(b, REGION_SIZE_OFFSET),
            erase_unit: u32_at(b, ERASE_UNIT_OFFSET),
            max_value_len: u32_at(b, MAX_VALUE_OFFSET),
            max_key_len: u16_at(b, MAX_KEY_OFFSET),
            read_unit: u16_at(b, READ_UNIT_OFFSET),
            high_water_bp: u16_at(b, HIGH_WATER_OFFSET),
            max_fill_bp: u16_at(b, MAX_FILL_OFFSET),
        };
        let valid = b[RESERVED_OFFSET] == 0
            && h.store_id != 0
            && h.store_id != u64::MAX
            && h.generation >= 1
            && h.generation < u64::MAX
            && h.max_key_len >= 1
            && h.high_water_bp >= 1
            && h.high_water_bp <= h.max_fill_bp
            && h.max_fill_bp <= 10_000;
        if valid {
            Ok(h)
        } else {
            Err(HeaderError::Invalid)
        }
    }
}

fn put(b: &mut [u8; HEADER_LEN], at: usize, field: &[u8]) {
    b[at..at + field.len()].copy_from_slice(field);
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RegionHeader {
        RegionHeader {
            store_id: 0x0123_4567_89AB_CDEF,
            generation: 7,
            region_size: 4096,
            erase_unit: 512,
            write_unit: 4,
            read_unit: 1,
            max_key_len: 63,
            max_value_len: 4096,
            high_water_bp: 8000,
            max_fill_bp: 9000,
        }
    }

    #[test]
    fn offsets_match_the_diagram() {
        assert_eq!(
            [
                MAGIC_OFFSET,
                VERSION_OFFSET,
                WRITE_UNIT_OFFSET,
                RESERVED_OFFSET,
                STORE_ID_OFFSET,
                GENERATION_OFFSET,
                REGION_SIZE_OFFSET,
                ERASE_UNIT_OFFSET,
                MAX_VALUE_OFFSET,
                MAX_KEY_OFFSET,
                READ_UNIT_OFFSET,
                HIGH_WATER_OFFSET,
                MAX_FILL_OFFSET,
                CHECK_OFFSET,
                HEADER_LEN,
            ],
            [0, 4, 6, 7, 8, 16, 24, 28, 32, 36, 38, 40, 42, 44, 48]
        );
    }

    #[test]
    fn seal_is_store_id_and_generation() {
        let h = sample();
        assert_eq!(
            h.seal(),
            Seal {
                store_id: h.store_id,
                generation: h.generation
            }
        );
    }

    #[test]
    fn roundtrip() {
        let h = sample();
        assert_eq!(RegionHeader::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn erased_and_zeroed_never_decode() {
        assert_eq!(RegionHeader::decode(&[0xFF; 48]), Err(HeaderError::Erased));
        assert_eq!(RegionHeader::decode(&[0; 48]), Err(HeaderError::Invalid));
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let b = sample().encode();
        for i in 0..HEADER_LEN * 8 {
            let mut c = b;
            c[i / 8] ^= 1 << (i % 8);
            assert!(RegionHeader::decode(&c).is_err(), "bit {i}");
        }
    }

    #[test]
    fn future_version_is_reported() {
        let mut b = sample().encode();
        b[VERSION_OFFSET] = 2;
        let check = CRC32C.checksum(&b[..CHECK_OFFSET]);
        b[CHECK_OFFSET..].copy_from_slice(&check.to_le_bytes());
        assert_eq!(
            RegionHeader::decode(&b),
            Err(HeaderError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn field_rules_are_enforced() {
        for bad in [
            RegionHeader {
                store_id: 0,
                ..sample()
            },
            RegionHeader {
                store_id: u64::MAX,
                ..sample()
            },
            RegionHeader {
                generation: 0,
                ..sample()
            },
            RegionHeader {
                generation: u64::MAX,
                ..sample()
            },
            RegionHeader {
                max_key_len: 0,
                ..sample()
            },
            RegionHeader {
                high_water_bp: 0,
                ..sample()
            },
            RegionHeader {
                high_water_bp: 9500,
                ..sample()
            },
            RegionHeader {
                max_fill_bp: 10_001,
                ..sample()
            },
        ] {
            assert_eq!(
                RegionHeader::decode(&bad.encode()),
                Err(HeaderError::Invalid),
                "{bad:?}"
            );
        }
    }
}
