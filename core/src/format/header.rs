//! Region header (FORMAT.md §2): 48 bytes at offset 0.
//!
//! ```text
//!  0 magic "twKV" | 4 version u16 | 6 W u8 | 7 0x00 | 8 store id u64
//! 16 generation u64 | 24 region size u32 | 28 erase unit u32
//! 32 max value u32 | 36 max key u16 | 38 read unit u16
//! 40 high-water u16 | 42 max-fill u16 | 44 CRC-32C over 0..44
//! ```

use super::checks::CRC32C;
use super::{FORMAT_VERSION, MAGIC};

/// Encoded size of the region header.
pub const HEADER_LEN: usize = 48;

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
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[6] = self.write_unit;
        b[7] = 0;
        b[8..16].copy_from_slice(&self.store_id.to_le_bytes());
        b[16..24].copy_from_slice(&self.generation.to_le_bytes());
        b[24..28].copy_from_slice(&self.region_size.to_le_bytes());
        b[28..32].copy_from_slice(&self.erase_unit.to_le_bytes());
        b[32..36].copy_from_slice(&self.max_value_len.to_le_bytes());
        b[36..38].copy_from_slice(&self.max_key_len.to_le_bytes());
        b[38..40].copy_from_slice(&self.read_unit.to_le_bytes());
        b[40..42].copy_from_slice(&self.high_water_bp.to_le_bytes());
        b[42..44].copy_from_slice(&self.max_fill_bp.to_le_bytes());
        let check = CRC32C.checksum(&b[..44]);
        b[44..48].copy_from_slice(&check.to_le_bytes());
        b
    }

    /// Decodes and validates a header.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, HeaderError> {
        if b.iter().all(|&x| x == 0xFF) {
            return Err(HeaderError::Erased);
        }
        if b[0..4] != MAGIC {
            return Err(HeaderError::Invalid);
        }
        if CRC32C.checksum(&b[..44]) != u32_at(b, 44) {
            return Err(HeaderError::Invalid);
        }
        let version = u16_at(b, 4);
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let h = RegionHeader {
            write_unit: b[6],
            store_id: u64_at(b, 8),
            generation: u64_at(b, 16),
            region_size: u32_at(b, 24),
            erase_unit: u32_at(b, 28),
            max_value_len: u32_at(b, 32),
            max_key_len: u16_at(b, 36),
            read_unit: u16_at(b, 38),
            high_water_bp: u16_at(b, 40),
            max_fill_bp: u16_at(b, 42),
        };
        let valid = b[7] == 0
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
        b[4] = 2;
        let check = CRC32C.checksum(&b[..44]);
        b[44..48].copy_from_slice(&check.to_le_bytes());
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
