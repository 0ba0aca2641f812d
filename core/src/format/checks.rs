//! The CRC instances of FORMAT.md (names from the `crc` crate's catalogue).
//!
//! Three algorithms: CRC-32C for everything that covers data (region header,
//! markers, record checks, batch and sync coverage, key hash), CRC-8/AUTOSAR
//! and CRC-16/IBM-3740 for the short and long record header checks (4 and 8
//! bytes). How they are computed depends on the features; the results never
//! do:
//!
//! - default: bit by bit (`crc::NoTable`), no lookup table in the image;
//! - `crc-tables`: one 256-entry table each (1 KiB + 512 B + 256 B);
//! - `fast-crc`: as `crc-tables`, with 16 lanes for CRC-32C (16 KiB);
//! - `hw-crc`: as `fast-crc` for pieces under 48 bytes (`HW_MIN_LEN`), and the
//!   `crc32c` crate for longer ones (the SSE4.2 or ARMv8 CRC instructions
//!   where the CPU has them, detected at run time, else that crate's own
//!   tables). The crate's call costs more than the tables for the few bytes
//!   of a seal, a record header or a short key; from a few dozen bytes on it
//!   is several times faster (a 256-byte value: ~20 ns instead of ~130 ns).

use crc::{Crc, CRC_16_IBM_3740, CRC_32_ISCSI, CRC_8_AUTOSAR};

// Cargo.toml: `hw-crc` implies `fast-crc`, which implies `crc-tables`.

/// Table lanes of the header checks (CRC-8 and CRC-16, 4 and 8 bytes).
#[cfg(feature = "crc-tables")]
type HeaderLanes = crc::Table<1>;
#[cfg(not(feature = "crc-tables"))]
type HeaderLanes = crc::NoTable;

/// Table lanes of CRC-32C (with `hw-crc`: of its short pieces).
#[cfg(feature = "fast-crc")]
type Lanes = crc::Table<16>;
#[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
type Lanes = crc::Table<1>;
#[cfg(not(feature = "crc-tables"))]
type Lanes = crc::NoTable;

static CASTAGNOLI: Crc<u32, Lanes> = Crc::<u32, Lanes>::new(&CRC_32_ISCSI);

/// With `hw-crc`, pieces of at least this many bytes go to the `crc32c`
/// crate, shorter ones to the 16-lane tables. Measured on an x86-64 host
/// with SSE4.2 (callgrind, instructions per call: tables 62 / 86 / 148 /
/// 272 for 5 / 16 / 32 / 64 bytes, the crate 151 / 179 / 187 / 203; wall
/// clock, independent calls: tables 4.3 / 4.8 / 9.2 ns for 5 / 16 / 32
/// bytes, the crate 12–13 ns): the crate's fixed cost per call makes the
/// tables cheaper below about 48 bytes.
#[cfg(feature = "hw-crc")]
pub const HW_MIN_LEN: usize = 48;

/// CRC-32C of `bytes` appended to bytes whose CRC-32C is `crc` (the
/// finished value, as `crc32c::crc32c_append` takes it).
#[cfg(feature = "hw-crc")]
#[inline]
fn append(crc: u32, bytes: &[u8]) -> u32 {
    if bytes.len() < HW_MIN_LEN {
        // The register before the final XOR, in the catalogue's unreflected
        // notation (the `crc` crate reflects a custom initial value).
        let mut d = CASTAGNOLI.digest_with_initial((!crc).reverse_bits());
        d.update(bytes);
        d.finalize()
    } else {
        crc32c::crc32c_append(crc, bytes)
    }
}

/// CRC-32C (`CRC_32_ISCSI`): whole-check and incremental use.
#[derive(Clone, Copy, Debug)]
pub struct Crc32c(());

/// An incremental CRC-32C: feed bytes with [`update`](Self::update), read
/// the check with [`finalize`](Self::finalize).
#[derive(Clone)]
pub struct Crc32cDigest {
    #[cfg(feature = "hw-crc")]
    crc: u32,
    #[cfg(not(feature = "hw-crc"))]
    digest: crc::Digest<'static, u32, Lanes>,
}

impl Crc32c {
    /// Starts an incremental check.
    #[inline]
    pub fn digest(&self) -> Crc32cDigest {
        Crc32cDigest {
            #[cfg(feature = "hw-crc")]
            crc: 0,
            #[cfg(not(feature = "hw-crc"))]
            digest: CASTAGNOLI.digest(),
        }
    }
    /// The check of `bytes`.
    #[inline]
    pub fn checksum(&self, bytes: &[u8]) -> u32 {
        #[cfg(feature = "hw-crc")]
        {
            append(0, bytes)
        }
        #[cfg(not(feature = "hw-crc"))]
        {
            CASTAGNOLI.checksum(bytes)
        }
    }
}

impl Crc32cDigest {
    /// Continues a check whose bytes so far have the CRC-32C `crc` (the
    /// finished value, as [`Crc32c::checksum`] returns it).
    #[inline]
    pub fn resume(crc: u32) -> Self {
        Crc32cDigest {
            #[cfg(feature = "hw-crc")]
            crc,
            // The register before the final XOR, in the catalogue's
            // unreflected notation (the `crc` crate reflects a custom
            // initial value).
            #[cfg(not(feature = "hw-crc"))]
            digest: CASTAGNOLI.digest_with_initial((!crc).reverse_bits()),
        }
    }
    /// Feeds `bytes`.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        #[cfg(feature = "hw-crc")]
        {
            self.crc = append(self.crc, bytes);
        }
        #[cfg(not(feature = "hw-crc"))]
        self.digest.update(bytes);
    }
    /// The check of every byte fed.
    #[inline]
    pub fn finalize(self) -> u32 {
        #[cfg(feature = "hw-crc")]
        {
            self.crc
        }
        #[cfg(not(feature = "hw-crc"))]
        {
            self.digest.finalize()
        }
    }
}

/// CRC-32C: region header check, marker check, record checks (the short form
/// keeps its low 24 bits), batch and sync coverage checks, key hash.
pub(crate) static CRC32C: Crc32c = Crc32c(());
/// CRC-16/IBM-3740: long header check.
pub(crate) static CRC16: Crc<u16, HeaderLanes> = Crc::<u16, HeaderLanes>::new(&CRC_16_IBM_3740);
/// CRC-8/AUTOSAR: short header check.
pub(crate) static CRC8: Crc<u8, HeaderLanes> = Crc::<u8, HeaderLanes>::new(&CRC_8_AUTOSAR);

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
pub static CRC32C_PUBLIC: &Crc32c = &CRC32C;

/// One byte through a CRC-32C register, bit by bit, straight from the
/// catalogue's parameters (reflected polynomial `0x82F63B78`): the reference
/// the tests hold the implementations to.
#[cfg(test)]
pub(crate) fn reference_step(mut r: u32, byte: u8) -> u32 {
    r ^= u32::from(byte);
    for _ in 0..8 {
        r = if r & 1 != 0 {
            (r >> 1) ^ 0x82F6_3B78
        } else {
            r >> 1
        };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32C (init and xorout `0xFFFFFFFF`) by [`reference_step`].
    fn reference(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!0u32, |r, &b| reference_step(r, b))
    }

    #[test]
    fn crc32c_matches_the_catalogue_whole_and_in_pieces() {
        assert_eq!(CRC32C.checksum(b"123456789"), CRC_32_ISCSI.check);
        assert_eq!(CRC32C.checksum(b""), 0);
        let data: [u8; 300] = core::array::from_fn(|i| (i * 7 + i / 3) as u8);
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 53, 64, 255, 300] {
            let want = reference(&data[..len]);
            assert_eq!(CRC32C.checksum(&data[..len]), want, "len {len}");
            for cut in [0, 1, 3, 8, len / 2, len] {
                let cut = cut.min(len);
                let mut d = CRC32C.digest();
                d.update(&data[..cut]);
                d.update(&data[cut..len]);
                assert_eq!(d.finalize(), want, "len {len} cut {cut}");
                let mut r = Crc32cDigest::resume(CRC32C.checksum(&data[..cut]));
                r.update(&data[cut..len]);
                assert_eq!(r.finalize(), want, "resumed: len {len} cut {cut}");
            }
        }
    }

    #[test]
    fn header_checks_match_the_catalogue() {
        assert_eq!(CRC8.checksum(b"123456789"), CRC_8_AUTOSAR.check);
        assert_eq!(CRC16.checksum(b"123456789"), CRC_16_IBM_3740.check);
    }
}
