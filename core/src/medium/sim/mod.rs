//! [`SimFlash`]: a strict, counting, fault-injecting NOR flash simulator that
//! implements `embedded-storage`'s [`NorFlash`] over a caller's byte buffer.
//! No allocator, so firmware can run a store on it (QEMU models a board's
//! flash as read-only).
//!
//! It wraps a [`RamRegion`], which enforces the NOR rules and owns the fuel,
//! tear, bit-flip and wear machinery; `SimFlash` adds the `NorFlash` face
//! (const-generic `READ_SIZE`, `WRITE_SIZE` and `ERASE_SIZE`, read
//! alignment), per-part reprogramming rules, byte- and erase-counted power
//! cuts, and weak cells.

use core::fmt;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use crate::medium::fault::{tear_program, Fault, SplitMix64, TearMode};

mod faults;
mod nor;
use crate::medium::ram::{RamError, RamRegion};
use crate::medium::region::{Geometry, MappedRegion, Region, ERASED, MAX_ERASE_UNIT};

/// How many weak units (torn programs or interrupted erases) a [`SimFlash`]
/// tracks at once; when more are torn, the oldest one becomes stable.
#[cfg_attr(docsrs, doc(cfg(feature = "flash-sim")))]
pub const WEAK_UNITS: usize = 8;

/// Largest write unit (bytes); the intended bits of a torn write unit are
/// kept for weak reads.
const MAX_W: usize = 32;

/// Errors of a [`SimFlash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "flash-sim")))]
pub enum SimError {
    /// The buffer given to the constructor does not have the length
    /// [`SimFlash::storage_len`] requires, or the size is not a multiple of
    /// the erase unit.
    StorageLength {
        /// Length the size requires (0: invalid size).
        expected: usize,
        /// Length of the buffer given.
        actual: usize,
    },
    /// The range is not inside the flash, or ends before it starts.
    OutOfBounds,
    /// An offset or length is not a multiple of `READ_SIZE` (read),
    /// `WRITE_SIZE` (write) or `ERASE_SIZE` (erase).
    NotAligned,
    /// A write touches a write unit already programmed since its last erase
    /// (the part forbids it: [`Reprogram::Never`]).
    AlreadyProgrammed {
        /// Offset of the first such write unit.
        offset: u32,
    },
    /// A write touches a byte that does not read `0xFF` in a unit never
    /// programmed since the last erase (e.g. a flipped bit).
    NotErased {
        /// Offset of the first such byte.
        offset: u32,
    },
    /// Power was cut; every call fails until [`SimFlash::restore_power`].
    PowerLost,
    /// An injected I/O error ([`SimFlash::fail_next_write`],
    /// [`SimFlash::fail_next_erase`]); nothing changed.
    Injected,
    /// ECC mode ([`SimFlash::set_ecc`]): the read touches a write unit that
    /// a cut left torn (partly programmed, or in an erase unit whose erase
    /// was cut), as an STM32H7 reports a double-bit ECC error. Nothing was
    /// read.
    Ecc {
        /// Offset of the first such write unit.
        offset: u32,
    },
}

impl From<RamError> for SimError {
    fn from(e: RamError) -> Self {
        match e {
            RamError::InvalidGeometry => SimError::StorageLength {
                expected: 0,
                actual: 0,
            },
            RamError::StorageLength { expected, actual } => {
                SimError::StorageLength { expected, actual }
            }
            RamError::OutOfBounds => SimError::OutOfBounds,
            RamError::Misaligned | RamError::EraseMisaligned => SimError::NotAligned,
            RamError::AlreadyProgrammed { offset } => SimError::AlreadyProgrammed { offset },
            RamError::NotErased { offset } => SimError::NotErased { offset },
            RamError::PowerLost => SimError::PowerLost,
            RamError::Injected => SimError::Injected,
        }
    }
}

impl SimError {
    /// Whether this is [`SimError::Ecc`]: what a store on a [`SimFlash`] in
    /// ECC mode declares unreadable
    /// ([`FlashRegion::with_unreadable`](crate::FlashRegion::with_unreadable)).
    pub fn is_ecc(&self) -> bool {
        matches!(self, SimError::Ecc { .. })
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StorageLength { expected, actual } => write!(
                f,
                "flash buffer is {actual} bytes, size needs {expected} (0: invalid size)"
            ),
            Self::OutOfBounds => f.write_str("range outside the flash"),
            Self::NotAligned => f.write_str("offset or length not aligned"),
            Self::AlreadyProgrammed { offset } => write!(
                f,
                "write unit at {offset:#x} already programmed since its last erase"
            ),
            Self::NotErased { offset } => write!(f, "write onto non-erased byte at {offset:#x}"),
            Self::PowerLost => f.write_str("power lost"),
            Self::Injected => f.write_str("injected I/O error"),
            Self::Ecc { offset } => write!(
                f,
                "uncorrectable ECC error in the write unit at {offset:#x}"
            ),
        }
    }
}

impl core::error::Error for SimError {}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            SimError::NotAligned => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// Whether a part lets a write unit be programmed again before an erase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(docsrs, doc(cfg(feature = "flash-sim")))]
pub enum Reprogram {
    /// Each write unit at most once between erases, onto erased bytes (parts
    /// with ECC, most MCU flash). What twinkv requires; the default.
    #[default]
    Never,
    /// Any number of writes; each ANDs into the cells (bits only go 1 → 0),
    /// as `embedded-storage`'s `MultiwriteNorFlash` describes.
    And,
}

/// Operation counters of a [`SimFlash`]; only calls that returned `Ok`
/// count. Wear per erase unit is [`SimFlash::erase_count`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(docsrs, doc(cfg(feature = "flash-sim")))]
pub struct SimStats {
    /// `read` calls.
    pub reads: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// `write` calls.
    pub programs: u64,
    /// Bytes written.
    pub bytes_programmed: u64,
    /// Erase units erased.
    pub erases: u64,
}

/// Minimum, maximum and sum of erase counts over a set of erase units
/// ([`SimFlash::wear`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(docsrs, doc(cfg(feature = "flash-sim")))]
pub struct Wear {
    /// Units considered.
    pub units: u32,
    /// Of those, units never erased.
    pub never_erased: u32,
    /// Smallest erase count.
    pub min: u32,
    /// Largest erase count.
    pub max: u32,
    /// Sum of erase counts (mean = `total / units`).
    pub total: u64,
}

/// What the armed power cut counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fuel {
    /// Write units programmed plus erase units erased (as `RamRegion`).
    Steps(u64),
    /// Bytes written; erases are free.
    Bytes(u64),
    /// Erase units erased; writes are free.
    Erases(u64),
}

#[derive(Clone, Copy, Debug)]
struct Cut {
    fuel: Fuel,
    mode: TearMode,
    seed: u64,
}

/// A unit left weak by a fault.
#[derive(Clone, Copy, Debug)]
enum WeakUnit {
    /// A torn write unit at `offset` that some new bit reached: bits the
    /// write meant to clear read either way; it never reads fully erased.
    Program { offset: u32, new: [u8; MAX_W] },
    /// An erase unit at `offset` whose erase was interrupted: any bytes,
    /// sometimes all `0xFF`.
    Erase { offset: u32 },
}

/// A NOR flash simulator: `size` bytes with write unit `W`, erase unit `E`
/// and read unit `R`, held in a caller-provided buffer `S` of
/// [`storage_len(size)`](Self::storage_len) bytes (an array, a `&mut [u8]`,
/// a `Vec<u8>`), without allocation.
///
/// # Rules
///
/// Each violation returns its own [`SimError`] and changes nothing:
/// reads, writes and erases outside the flash ([`SimError::OutOfBounds`]);
/// offsets and lengths not multiples of `R`, `W` and `E` respectively
/// ([`SimError::NotAligned`]); with [`Reprogram::Never`] (the default), a
/// write onto a write unit programmed since its last erase, even with `0xFF`
/// bytes ([`SimError::AlreadyProgrammed`]), or onto a byte that does not read
/// `0xFF` ([`SimError::NotErased`]). With [`Reprogram::And`] writes AND into
/// the cells: bits only ever go from 1 to 0 until an erase.
///
/// # Counters
///
/// [`SimStats`] counts reads, bytes read, writes, bytes written and erase
/// units erased (successful calls); [`erase_count`](Self::erase_count) is
/// the wear of each erase unit (interrupted erases included).
///
/// # Faults
///
/// All randomness is seeded by the caller, so every fault is reproducible.
///
/// - **Power cut** after `n` steps ([`cut_power_after`](Self::cut_power_after):
///   write units programmed plus erase units erased, as [`RamRegion`]), after
///   `n` bytes written ([`cut_after_bytes`](Self::cut_after_bytes)) or during
///   the `n+1`-th erase unit erased ([`interrupt_erase_after`](Self::interrupt_erase_after)).
///   The write unit being programmed is left with a mix of old and new bits
///   per [`TearMode`]; an erase unit being erased is left partly erased
///   (each byte old or `0xFF`, or all `0xFF` but still unreliable, so a write
///   into it fails until it is erased again). Then every call fails with
///   [`SimError::PowerLost`] until [`restore_power`](Self::restore_power).
/// - **Bit flips** ([`flip_bit`](Self::flip_bit),
///   [`flip_random_bit`](Self::flip_random_bit) in a given range).
/// - **Weak cells** ([`set_weak_cells`](Self::set_weak_cells)): a write unit
///   torn with at least one new bit, or an erase unit whose erase was
///   interrupted, reads back differently on each read until it is erased
///   (as weakly programmed NOR cells do). A torn write unit varies only in
///   the bits the write meant to clear and never reads fully erased (the
///   [`Region`] power-loss contract); a half-erased unit may read anything,
///   all `0xFF` one time in four. Up to [`WEAK_UNITS`] are tracked.
/// - **Injected errors** ([`fail_next_write`](Self::fail_next_write),
///   [`fail_next_erase`](Self::fail_next_erase)).
/// - **ECC mode** ([`set_ecc`](Self::set_ecc)): a part that keeps an error
///   correcting code per write unit (the ECC granularity here is `W`: on an
///   STM32H7 the 32-byte flash word, on U5/L5/G4 the 8-byte double word).
///   A read that touches a write unit torn by a later cut (some new bit
///   programmed), or any write unit of an erase unit whose erase was cut,
///   fails with [`SimError::Ecc`] instead of returning data, until the unit
///   is erased; with weak cells on as well, such a unit fails one read in
///   two and reads noisy data otherwise (a marginal cell passes its ECC
///   check some of the time). Torn units are tracked as weak units are (up
///   to [`WEAK_UNITS`]).
///
/// ```
/// use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
/// use twinkv_core::{SimError, SimFlash, TearMode};
///
/// type Flash = SimFlash<[u8; SimFlash::<[u8; 0], 4, 256>::storage_len(1024)], 4, 256>;
/// let mut flash = Flash::new([0; Flash::storage_len(1024)], 1024)?;
/// flash.write(0, &[1, 2, 3, 4])?;
/// assert_eq!(flash.write(0, &[0; 4]), Err(SimError::AlreadyProgrammed { offset: 0 }));
/// // Power fails after 6 more bytes: unit 4..8 completes, unit 8..12 is torn.
/// flash.cut_after_bytes(6, TearMode::RandomBits, 1);
/// assert_eq!(flash.write(4, &[0; 12]), Err(SimError::PowerLost));
/// flash.restore_power();
/// let mut b = [0u8; 4];
/// flash.read(4, &mut b)?;
/// assert_eq!(b, [0; 4]);
/// assert_eq!(flash.stats().bytes_programmed, 4);
/// # Ok::<(), SimError>(())
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "flash-sim")))]
pub struct SimFlash<S, const W: usize, const E: usize, const R: usize = 1>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
{
    ram: RamRegion<S>,
    reprogram: Reprogram,
    stats: SimStats,
    cut: Option<Cut>,
    /// Steps taken by `Reprogram::And` rewrites (which bypass `ram`).
    extra_steps: u64,
    fault: Option<Fault>,
    weak_rng: Option<SplitMix64>,
    weak: [Option<WeakUnit>; WEAK_UNITS],
    /// Next slot of `weak` to fill (round robin).
    weak_next: usize,
    fail_write: bool,
    fail_erase: bool,
    /// ECC mode: reads of torn units fail ([`SimFlash::set_ecc`]).
    ecc: bool,
    /// Reads that failed with [`SimError::Ecc`].
    ecc_errors: u64,
}

impl<S, const W: usize, const E: usize, const R: usize> SimFlash<S, W, E, R>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
{
    /// Checked when the type is used: units twinkv and the simulator serve.
    const UNITS_OK: () = {
        assert!(
            matches!(W, 1 | 2 | 4 | 8 | 16 | 32),
            "WRITE_SIZE must be 1, 2, 4, 8, 16 or 32"
        );
        assert!(
            E.is_power_of_two() && E >= W && E <= MAX_ERASE_UNIT as usize,
            "ERASE_SIZE must be a power of two between WRITE_SIZE and 1 MiB"
        );
        assert!(
            R >= 1 && E.is_multiple_of(R),
            "READ_SIZE must divide ERASE_SIZE"
        );
    };

    const fn geometry_for(size: u32) -> Geometry {
        Geometry {
            size,
            read_unit: R as u32,
            write_unit: W as u32,
            erase_unit: E as u32,
        }
    }

    /// Buffer length for a flash of `size` bytes (a multiple of `E`), or 0
    /// if that size is invalid. `const`, so it can size an array.
    pub const fn storage_len(size: u32) -> usize {
        // `storage_len_for` returns 0 for a geometry core rejects.
        RamRegion::<S>::storage_len_for(&Self::geometry_for(size))
    }

    /// A fully erased flash of `size` bytes over `storage`, all counters 0.
    ///
    /// # Errors
    /// [`SimError::StorageLength`] if `storage.len()` is not
    /// [`storage_len(size)`](Self::storage_len) or `size` is invalid.
    pub fn new(storage: S, size: u32) -> Result<Self, SimError> {
        Self::build(RamRegion::new, storage, size)
    }

    /// A flash of `size` bytes that keeps the first `size` bytes of
    /// `storage` as its contents (an image), all counters 0. A write onto
    /// bytes that do not read `0xFF` fails with [`SimError::NotErased`].
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_contents(storage: S, size: u32) -> Result<Self, SimError> {
        Self::build(RamRegion::with_contents, storage, size)
    }

    fn build(
        make: fn(S, Geometry) -> Result<RamRegion<S>, RamError>,
        mut storage: S,
        size: u32,
    ) -> Result<Self, SimError> {
        let () = Self::UNITS_OK;
        let expected = Self::storage_len(size);
        let actual = storage.as_mut().len();
        if expected == 0 || actual != expected {
            return Err(SimError::StorageLength { expected, actual });
        }
        let ram = make(storage, Self::geometry_for(size))?;
        Ok(SimFlash {
            ram,
            reprogram: Reprogram::Never,
            stats: SimStats::default(),
            cut: None,
            extra_steps: 0,
            fault: None,
            weak_rng: None,
            weak: [None; WEAK_UNITS],
            weak_next: 0,
            fail_write: false,
            fail_erase: false,
            ecc: false,
            ecc_errors: 0,
        })
    }

    /// Gives the buffer back (layout: [`RamRegion`]'s).
    pub fn into_inner(self) -> S {
        self.ram.into_inner()
    }

    /// The underlying [`RamRegion`] (for its counters and bytes).
    pub fn ram(&self) -> &RamRegion<S> {
        &self.ram
    }

    /// The flash contents, bypassing weak cells and counters.
    pub fn as_bytes(&self) -> &[u8] {
        self.ram.as_bytes()
    }

    /// The flash contents, mutable, bypassing every rule and counter (to
    /// craft or corrupt images).
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.ram.data_mut()
    }

    /// Sets the part's reprogramming rule (default [`Reprogram::Never`]).
    pub fn set_reprogram(&mut self, rule: Reprogram) {
        self.reprogram = rule;
    }

    /// Counters since construction or [`reset_stats`](Self::reset_stats).
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Zeroes the counters (not wear).
    pub fn reset_stats(&mut self) {
        self.stats = SimStats::default();
    }

    /// Number of erase units.
    pub fn erase_units(&self) -> u32 {
        self.ram.erase_units()
    }

    /// Times erase unit `unit` was erased (interrupted erases included).
    pub fn erase_count(&self, unit: u32) -> u32 {
        self.ram.erase_count(unit)
    }

    /// Wear over the erase units `units` selects (e.g. those ever
    /// programmed).
    pub fn wear(&self, mut units: impl FnMut(u32) -> bool) -> Wear {
        let mut w = Wear {
            min: u32::MAX,
            ..Wear::default()
        };
        for (unit, count) in (0u32..).zip(self.ram.erase_counts()) {
            if !units(unit) {
                continue;
            }
            w.units += 1;
            w.never_erased += u32::from(count == 0);
            w.min = w.min.min(count);
            w.max = w.max.max(count);
            w.total += u64::from(count);
        }
        if w.units == 0 {
            w.min = 0;
        }
        w
    }

    fn size(&self) -> u32 {
        self.ram.geometry().size
    }

    /// Checks `offset .. offset + len` is inside the flash and aligned to
    /// `unit`; returns the end.
    fn check(&self, offset: u32, len: usize, unit: usize) -> Result<u32, SimError> {
        let len = u32::try_from(len).map_err(|_| SimError::OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(SimError::OutOfBounds)?;
        if end > self.size() {
            return Err(SimError::OutOfBounds);
        }
        let unit = unit as u32;
        if !offset.is_multiple_of(unit) || !len.is_multiple_of(unit) {
            return Err(SimError::NotAligned);
        }
        Ok(end)
    }
}

impl<S, const W: usize, const E: usize, const R: usize> fmt::Debug for SimFlash<S, W, E, R>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFlash")
            .field("size", &self.size())
            .field("read_size", &R)
            .field("write_size", &W)
            .field("erase_size", &E)
            .field("reprogram", &self.reprogram)
            .field("stats", &self.stats)
            .field("power_lost", &self.power_lost())
            .field("last_fault", &self.fault)
            .field("weak_units", &self.weak_units())
            .field("ecc", &self.ecc)
            .finish_non_exhaustive()
    }
}
