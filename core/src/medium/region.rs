//! The byte-region trait: the only way core touches storage.
//!
//! A region follows NOR flash rules: erased bytes read `0xFF`, programming can
//! only clear bits, each write unit is programmed at most once between erases,
//! and erasing works on whole erase units. RAM ([`RamRegion`](crate::RamRegion)),
//! memory-mapped files (in `twinkv-host`) and real flash (the
//! `embedded-storage` adapter) implement it. FORMAT.md, "Assumptions about the
//! medium", repeats this contract.

/// The value every byte reads after an erase.
pub const ERASED: u8 = 0xFF;

/// Whether every byte of `bytes` is [`ERASED`]. Compares in blocks with an
/// AND reduction (which the compiler vectorises), stopping at the first block
/// that is not erased.
///
/// Not inlined where `fast-crc` is off (firmware builds): it was inlined
/// at 14 places of a minimal firmware (the chunk iterator and the fold each
/// time), 108 B of flash more than one body and its calls. Hosts
/// (`fast-crc`) leave it to the compiler, as they do the other helpers
/// outlined for flash size.
#[cfg_attr(not(feature = "fast-crc"), inline(never))]
pub fn all_erased(bytes: &[u8]) -> bool {
    bytes.chunks(4096).all(|block| {
        // Eight bytes a step, then the bytes that do not fill a word.
        let (words, tail) = block.as_chunks::<8>();
        let acc = words
            .iter()
            .fold(u64::MAX, |acc, w| acc & u64::from_le_bytes(*w));
        acc == u64::MAX && tail.iter().fold(ERASED, |acc, &b| acc & b) == ERASED
    })
}

/// The write units (program granularity, bytes) twinkv supports.
pub const WRITE_UNITS: [u32; 6] = [1, 2, 4, 8, 16, 32];

/// Largest erase unit twinkv accepts (bytes).
pub const MAX_ERASE_UNIT: u32 = 1 << 20;

/// Largest region twinkv accepts (bytes): 1 GiB. The store's index keeps a
/// record's offset in the low 30 bits of a `u32`; the two bits above mark
/// a record of a switch's target and a batch's staged op.
pub const MAX_REGION_SIZE: u32 = 1 << 30;

/// Shape of a region. All sizes are in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    /// Total size of the region; a multiple of `erase_unit`, at most
    /// [`MAX_REGION_SIZE`].
    pub size: u32,
    /// Read granularity the medium prefers. Informational: [`Region::read`]
    /// must accept any offset and length (an adapter bounces unaligned reads).
    pub read_unit: u32,
    /// Program granularity: one of [`WRITE_UNITS`].
    pub write_unit: u32,
    /// Erase granularity: a power of two, a multiple of `write_unit`, at most
    /// [`MAX_ERASE_UNIT`].
    pub erase_unit: u32,
}

impl Geometry {
    /// Checks the rules listed on each field. Returns `false` for a geometry
    /// twinkv cannot use.
    pub const fn is_valid(&self) -> bool {
        let w = self.write_unit;
        let write_ok = w == 1 || w == 2 || w == 4 || w == 8 || w == 16 || w == 32;
        write_ok
            && self.read_unit >= 1
            && self.erase_unit.is_power_of_two()
            && self.erase_unit >= w
            && self.erase_unit <= MAX_ERASE_UNIT
            && self.size > 0
            && self.size <= MAX_REGION_SIZE
            && self.size.is_multiple_of(self.erase_unit)
    }

    /// Number of erase units in the region.
    ///
    /// Not inlined where `fast-crc` is off (firmware builds): its division
    /// and division-by-zero path were inlined at 9 places of a minimal
    /// firmware (80 B of flash more than a call).
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub const fn erase_units(&self) -> u32 {
        self.size / self.erase_unit
    }
}

/// A byte region with NOR flash rules.
///
/// # Power-loss contract
/// Every crash argument in FORMAT.md rests on these guarantees; an
/// implementation that cannot give them must not implement this trait.
///
/// - `program`: if power is lost during the call, the write units it touched
///   may hold any mix of their old and new bits, and nothing else changed. A
///   unit left with all bits old counts as unprogrammed; a unit left with any
///   new bit never reads back as fully erased.
/// - `erase`: if power is lost during the call, the erase units it covered are
///   undefined: any bytes, possibly reading as fully erased although they are
///   not reliably so. Nothing outside them changed.
/// - `sync`: once it returns, everything programmed or erased before it is
///   durable.
/// - After a failed `program` or `erase`, core writes nothing more to that
///   region until it is reopened or switched away from.
/// - [`Region::persists_in_order`] tells whether programs become durable in the
///   order they were issued even without `sync` (flash, RAM: yes; a memory
///   mapped file: no, the OS writes pages back in any order).
///
/// Offsets and lengths are in bytes from the start of the region. Callers
/// (core) never pass a range outside `0..size`; implementations still check and
/// return an error rather than panic.
pub trait Region {
    /// The medium's own error, kept reachable through
    /// [`Error::Region`](crate::Error::Region).
    type Error: core::fmt::Debug;

    /// The region's shape. Must not change while core holds the region.
    fn geometry(&self) -> Geometry;

    /// Whether programs persist in issue order without `sync` (see the trait
    /// docs).
    fn persists_in_order(&self) -> bool;

    /// Reads `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Programs `data` at `offset`. `offset` and `data.len()` are multiples of
    /// the write unit, every byte of the range reads erased, and no unit of the
    /// range was programmed since its last erase.
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error>;

    /// Erases the erase units covering `from..to` (both multiples of the erase
    /// unit); afterwards they read `0xFF`.
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error>;

    /// Durability barrier: everything programmed or erased before the call is
    /// durable once it returns.
    fn sync(&mut self) -> Result<(), Self::Error>;

    /// Whether `error`, returned by [`read`](Self::read) or
    /// [`is_erased`](Self::is_erased), says that the bytes asked for cannot
    /// be read (an uncorrectable ECC error of a write unit a cut left torn,
    /// or of a damaged one) rather than that the medium failed. Core then
    /// reads the range again one write unit at a time and takes each unit
    /// that still fails as unreadable: neither erased nor valid data, as a
    /// torn unit reads (FORMAT.md §10). Any other error is returned to the
    /// caller. The default says `false` for every error; the
    /// `embedded-storage` adapter says `true` for the flash's own errors.
    fn unreadable(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// The whole region, if its bytes are in memory and reading them cannot
    /// fail (a memory-mapped file, bytes in RAM): core then reads records in
    /// place instead of copying them out through [`read`](Self::read). The
    /// slice is `geometry().size` bytes and holds exactly what `read` would
    /// return. The default, `None`, is right for every region whose reads
    /// can fail, are counted, or cost I/O (flash, fault-injecting test
    /// regions). The format's rules do not depend on it: every check is the
    /// same on either path.
    fn lend(&self) -> Option<&[u8]> {
        None
    }

    /// Whether every byte of `from..to` reads erased (`0xFF`). Opening a store
    /// checks past the active log's end with it (FORMAT.md §6.2: in full on
    /// regions that do not persist in order, else one erase unit and a probe
    /// per later unit, the rest before an append reaches it). The default reads
    /// in 64-byte chunks (on the stack, under the open's deepest calls: small
    /// for small stacks); a memory region can compare in place, and a file
    /// region can use plain reads rather than fault its mapping in.
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, Self::Error> {
        let mut buf = [0u8; 64];
        let mut at = from;
        while at < to {
            let n = core::cmp::min(buf.len() as u32, to - at) as usize;
            self.read(at, &mut buf[..n])?;
            if !all_erased(&buf[..n]) {
                return Ok(false);
            }
            at += n as u32;
        }
        Ok(true)
    }
}

/// A region whose bytes are in memory and can be lent out, so reads need no
/// copy (`get_ref` on the store). Flash regions do not implement it.
pub trait MappedRegion: Region {
    /// The whole region, `geometry().size` bytes.
    fn as_bytes(&self) -> &[u8];
}

impl<R: Region + ?Sized> Region for &mut R {
    type Error = R::Error;
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn persists_in_order(&self) -> bool {
        (**self).persists_in_order()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        (**self).read(offset, buf)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        (**self).program(offset, data)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        (**self).erase(from, to)
    }
    fn sync(&mut self) -> Result<(), Self::Error> {
        (**self).sync()
    }
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, Self::Error> {
        (**self).is_erased(from, to)
    }
    fn unreadable(&self, error: &Self::Error) -> bool {
        (**self).unreadable(error)
    }
    fn lend(&self) -> Option<&[u8]> {
        (**self).lend()
    }
}

impl<R: MappedRegion + ?Sized> MappedRegion for &mut R {
    fn as_bytes(&self) -> &[u8] {
        (**self).as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the word and block sizes, erased and with one
    /// byte not erased at every position (each bit cleared in turn), at
    /// every alignment of the slice.
    #[test]
    fn all_erased_finds_any_byte_that_is_not_erased() {
        let mut buf = [ERASED; 4096 + 64];
        for start in 0..8 {
            for len in (0..=40).chain([4095, 4096, 4097, 4096 + 17]) {
                assert!(all_erased(&buf[start..start + len]), "{start} {len}");
                for at in 0..len {
                    for bit in 0..8 {
                        buf[start + at] = !(1 << bit);
                        assert!(!all_erased(&buf[start..start + len]), "{start} {len} {at}");
                        buf[start + at] = ERASED;
                    }
                }
            }
        }
    }
}
