//! What the test doubles share: the PRNG behind every fault, the tear
//! models of a write unit cut while programmed or of an erase unit cut while
//! erased, and the report of the fault that fired. [`RamRegion`] and
//! `SimFlash` both use these, so a seed means the same tear in both.
//!
//! [`RamRegion`]: crate::RamRegion

use super::region::ERASED;

/// How a write unit is left when power is cut while programming it.
///
/// "Old" bytes and bits are those of the erased unit (`0xFF`), "new" ones are
/// those of the data being programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TearMode {
    /// The first `k` bytes are new and the rest old, `k` uniform in
    /// `0..W`: at least the last byte is always old (so with `W = 1` the
    /// unit stays erased).
    Prefix,
    /// Each byte is independently old or new (possibly all new or all old).
    Subset,
    /// Each bit is independently old or new.
    RandomBits,
}

/// A fault that fired, as reported by [`RamRegion::last_fault`](crate::RamRegion::last_fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fault {
    /// Power was cut while programming the write unit at `offset`.
    TornProgram {
        /// Offset of the torn write unit.
        offset: u32,
        /// How it was torn.
        mode: TearMode,
    },
    /// Power was cut while erasing the erase unit at `offset`.
    TornErase {
        /// Offset of the torn erase unit.
        offset: u32,
        /// Whether the torn unit happens to read all `0xFF`.
        reads_erased: bool,
    },
    /// Power was cut between operations by [`RamRegion::cut_power`](crate::RamRegion::cut_power).
    PowerCut,
    /// [`RamRegion::fail_next_program`](crate::RamRegion::fail_next_program) failed a program at `offset`.
    InjectedProgram {
        /// Offset of the failed program.
        offset: u32,
    },
    /// [`RamRegion::fail_next_erase`](crate::RamRegion::fail_next_erase) failed an erase starting at `from`.
    InjectedErase {
        /// Start of the failed erase.
        from: u32,
    },
    /// A data bit was flipped.
    BitFlip {
        /// Offset of the byte.
        offset: u32,
        /// Bit number, 0 (least significant) to 7.
        bit: u8,
    },
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, deterministic PRNG.
/// Good enough to pick fault patterns; not for anything cryptographic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The low byte of the next draw (`SimFlash`'s weak cells).
    #[cfg_attr(not(feature = "flash-sim"), allow(dead_code))]
    pub(crate) fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }

    /// Uniform-ish in `0..n` (modulo bias is irrelevant here); 0 if `n == 0`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
}

/// Tears one write unit being programmed: `dst` holds the old (erased) bytes,
/// `new` the data. Returns whether any byte changed.
pub(crate) fn tear_program(
    dst: &mut [u8],
    new: &[u8],
    mode: TearMode,
    rng: &mut SplitMix64,
) -> bool {
    match mode {
        TearMode::Prefix => {
            let k = rng.below(dst.len() as u64);
            for (i, (d, n)) in dst.iter_mut().zip(new).enumerate() {
                if (i as u64) < k {
                    *d &= *n;
                }
            }
        }
        TearMode::Subset => {
            for (d8, n8) in dst.chunks_mut(8).zip(new.chunks(8)) {
                let r = rng.next_u64();
                for (j, (d, n)) in d8.iter_mut().zip(n8).enumerate() {
                    if (r >> j) & 1 == 1 {
                        *d &= *n;
                    }
                }
            }
        }
        TearMode::RandomBits => {
            for (d8, n8) in dst.chunks_mut(8).zip(new.chunks(8)) {
                let mask = rng.next_u64().to_le_bytes();
                for ((d, n), m) in d8.iter_mut().zip(n8).zip(mask) {
                    // Bits set in `m` take the new value; `old & new` because
                    // new bits can only clear old ones.
                    *d = (*d & !m) | (*d & *n & m);
                }
            }
        }
    }
    dst.iter().any(|&b| b != ERASED)
}

/// Tears one erase unit. Returns whether it reads all `0xFF` afterwards.
pub(crate) fn tear_erase(dst: &mut [u8], rng: &mut SplitMix64) -> bool {
    if rng.below(4) == 0 {
        dst.fill(ERASED);
        return true;
    }
    for d8 in dst.chunks_mut(8) {
        let r = rng.next_u64();
        for (j, d) in d8.iter_mut().enumerate() {
            if (r >> j) & 1 == 1 {
                *d = ERASED;
            }
        }
    }
    dst.iter().all(|&b| b == ERASED)
}
