//! [`RamRegion`]: a strict, fault-injecting [`Region`](crate::Region) held in
//! memory. Its type docs describe the buffer layout, the rules and the fault
//! model.

use core::fmt;

use crate::medium::fault::{tear_erase, tear_program, Fault, SplitMix64, TearMode};
use crate::medium::region::{Geometry, MappedRegion, Region, ERASED};

mod faults;
mod rules;

/// Bytes of wear counter per erase unit.
const WEAR_BYTES: usize = 4;

/// Errors of a [`RamRegion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RamError {
    /// The geometry fails [`Geometry::is_valid`], or its buffer would not fit
    /// in memory on this platform.
    InvalidGeometry,
    /// The buffer given to the constructor does not have the length
    /// [`RamRegion::storage_len`] requires (or the buffer changed length
    /// since).
    StorageLength {
        /// Length the geometry requires.
        expected: usize,
        /// Length of the buffer given.
        actual: usize,
    },
    /// The range is not inside the region, or ends before it starts.
    OutOfBounds,
    /// A program offset or length is not a multiple of the write unit.
    Misaligned,
    /// A program touches a write unit already programmed since its last erase.
    AlreadyProgrammed {
        /// Offset of the first such write unit.
        offset: u32,
    },
    /// A program touches a byte that does not read `0xFF`.
    NotErased {
        /// Offset of the first such byte.
        offset: u32,
    },
    /// An erase range is not aligned to erase units.
    EraseMisaligned,
    /// Power was cut (see [`RamRegion::cut_power_after`]); every call fails
    /// until [`RamRegion::restore_power`].
    PowerLost,
    /// An injected I/O error ([`RamRegion::fail_next_program`],
    /// [`RamRegion::fail_next_erase`]); nothing changed.
    Injected,
}

impl fmt::Display for RamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidGeometry => f.write_str("invalid RAM region geometry"),
            Self::StorageLength { expected, actual } => write!(
                f,
                "RAM region buffer is {actual} bytes, geometry needs {expected}"
            ),
            Self::OutOfBounds => f.write_str("range outside the RAM region"),
            Self::Misaligned => f.write_str("program not aligned to the write unit"),
            Self::AlreadyProgrammed { offset } => write!(
                f,
                "write unit at {offset:#x} already programmed since its last erase"
            ),
            Self::NotErased { offset } => {
                write!(f, "program onto non-erased byte at {offset:#x}")
            }
            Self::EraseMisaligned => f.write_str("erase not aligned to the erase unit"),
            Self::PowerLost => f.write_str("power lost"),
            Self::Injected => f.write_str("injected I/O error"),
        }
    }
}

impl core::error::Error for RamError {}

/// Operation counters of a [`RamRegion`]; see [`RamRegion::stats`].
///
/// Only calls that returned `Ok` are counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RamStats {
    /// `read` calls.
    pub reads: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// `program` calls.
    pub programs: u64,
    /// Bytes programmed.
    pub bytes_programmed: u64,
    /// Erase units erased.
    pub erases: u64,
    /// `sync` calls.
    pub syncs: u64,
}

/// An armed power cut.
#[derive(Clone, Copy, Debug)]
struct Cut {
    fuel: u64,
    mode: TearMode,
    rng: SplitMix64,
}

/// A [`Region`] in a caller-provided byte buffer, enforcing NOR flash rules
/// strictly and injecting faults on demand.
///
/// Every core test runs on this region, and firmware can use it as a plain
/// RAM store. It needs no allocator: the caller lends one byte buffer `S`
/// (an array, a `&mut [u8]`, a `Vec<u8>`, ...) that holds all of its state.
///
/// # Buffer layout
///
/// For a [`Geometry`] with `size` bytes, write unit `W` and erase unit `E`,
/// the buffer is exactly [`RamRegion::storage_len`] bytes long:
///
/// | bytes | content |
/// |---|---|
/// | `0 .. size` | the region's data, as [`MappedRegion::as_bytes`] lends it |
/// | `size/W` bytes | one `u8` per write unit: programs since its last erase (saturating) |
/// | `4 * size/E` bytes | one little-endian `u32` per erase unit: times it was erased (wear, saturating) |
///
/// # Rules enforced
///
/// Each violation returns its own [`RamError`] variant and changes nothing:
///
/// - any range outside `0..size` (or ending before it starts):
///   [`RamError::OutOfBounds`];
/// - a `program` offset or length that is not a multiple of the write unit:
///   [`RamError::Misaligned`];
/// - a `program` onto a write unit already programmed since its last erase,
///   even if that program wrote `0xFF` bytes: [`RamError::AlreadyProgrammed`];
/// - a `program` onto a byte that does not read `0xFF`:
///   [`RamError::NotErased`];
/// - an `erase` range not aligned to erase units: [`RamError::EraseMisaligned`].
///
/// A program ANDs the new bytes into the old ones (`old & new`), which equals
/// writing them since the target bytes read erased.
///
/// # Fault model
///
/// All randomness comes from a SplitMix64 generator seeded by the caller, so a
/// fault is reproducible from `(steps, mode, seed)`.
///
/// - **Power cut** ([`RamRegion::cut_power_after`]): a fuel counter of `f`
///   steps. Each write unit programmed and each erase unit erased costs one
///   step, across calls; reads and syncs cost nothing. Exactly `f` units
///   complete fully and the next unit (the `f + 1`-th) is torn; with `f = 0`
///   the very first unit touched is torn. Units after the torn one in the same
///   call are untouched. The call returns [`RamError::PowerLost`], and so does
///   every later `read`, `program`, `erase` and `sync` until
///   [`RamRegion::restore_power`] (the "reboot": reopen the store on the same
///   region).
///   - A torn **program** leaves the write unit as a mix of old bytes (always
///     `0xFF`, since programs go onto erased bytes) and new bytes, per
///     [`TearMode`]. If any bit of the unit changed, the unit counts as
///     programmed (its program counter is bumped); if none did, it counts as
///     unprogrammed, as the [`Region`] power-loss contract says.
///   - A torn **erase** leaves the erase unit with each byte independently
///     either its old value or `0xFF`; with probability 1/4 the whole unit
///     reads `0xFF` instead. Either way the unit is *not reliably erased*:
///     every write unit in it is marked programmed, so a `program` into it
///     before a complete erase fails with [`RamError::AlreadyProgrammed`] even
///     when it reads as erased.
/// - **Immediate power loss** ([`RamRegion::cut_power`]): later calls fail as
///   above, nothing is torn.
/// - **Injected I/O errors** ([`RamRegion::fail_next_program`],
///   [`RamRegion::fail_next_erase`]): the next valid call returns
///   [`RamError::Injected`] and changes nothing.
/// - **Bit flips** ([`RamRegion::flip_bit`], [`RamRegion::flip_random_bit`]):
///   change a data bit directly, leaving program counters alone.
///
/// [`RamRegion::last_fault`] tells which fault fired last and where.
///
/// # Statistics
///
/// [`RamStats`] counts calls that returned `Ok` (a call cut by power loss or
/// rejected counts nothing). Wear ([`RamRegion::erase_count`]) counts every
/// erase a unit underwent, torn ones included, and survives
/// [`RamRegion::reset_stats`].
///
/// # Example
///
/// ```
/// use twinkv_core::{Geometry, RamError, RamRegion, Region, TearMode};
///
/// const LEN: usize = RamRegion::<&mut [u8]>::storage_len(1024, 4, 256);
/// let mut buf = [0u8; LEN];
/// let geometry = Geometry { size: 1024, read_unit: 1, write_unit: 4, erase_unit: 256 };
/// let mut region = RamRegion::new(&mut buf[..], geometry)?;
///
/// region.program(0, &[1, 2, 3, 4])?;
/// assert_eq!(region.program(0, &[0; 4]), Err(RamError::AlreadyProgrammed { offset: 0 }));
///
/// // Cut power after one more write unit: the second unit of this call is torn.
/// region.cut_power_after(1, TearMode::Subset, 7);
/// assert_eq!(region.program(4, &[0; 8]), Err(RamError::PowerLost));
/// let mut out = [0u8; 4];
/// assert_eq!(region.read(0, &mut out), Err(RamError::PowerLost));
/// region.restore_power();
/// region.read(4, &mut out)?;
/// assert_eq!(out, [0; 4]);
/// # Ok::<(), RamError>(())
/// ```
#[derive(Clone)]
pub struct RamRegion<S: AsRef<[u8]> + AsMut<[u8]>> {
    storage: S,
    geometry: Geometry,
    /// `geometry.size` as usize.
    data_len: usize,
    /// Number of write units.
    write_units: usize,
    in_order: bool,
    stats: RamStats,
    steps: u64,
    cut: Option<Cut>,
    power_lost: bool,
    fail_program: bool,
    fail_erase: bool,
    last_fault: Option<Fault>,
}

/// The three parts of the buffer.
struct Parts<'a> {
    data: &'a mut [u8],
    counts: &'a mut [u8],
    wear: &'a mut [u8],
}

fn split(buf: &mut [u8], data_len: usize, write_units: usize) -> Option<Parts<'_>> {
    let (data, rest) = buf.split_at_mut_checked(data_len)?;
    let (counts, wear) = rest.split_at_mut_checked(write_units)?;
    Some(Parts { data, counts, wear })
}

/// `x as usize`, for values bounded by the region size, which fits `usize`
/// (checked at construction).
const fn us(x: u32) -> usize {
    x as usize
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> RamRegion<S> {
    /// Buffer length needed for a region of `size` bytes with the given write
    /// and erase units (read unit 1), or 0 if that geometry is invalid or its
    /// buffer would not fit in memory. `const`, so it can size an array; the
    /// type parameter does not matter:
    ///
    /// ```
    /// use twinkv_core::RamRegion;
    /// // 1024 data bytes + 256 program counters + 4 wear counters of 4 bytes.
    /// const LEN: usize = RamRegion::<&mut [u8]>::storage_len(1024, 4, 256);
    /// assert_eq!(LEN, 1024 + 256 + 16);
    /// let buf = [0u8; LEN];
    /// # let _ = buf;
    /// ```
    pub const fn storage_len(size: u32, write_unit: u32, erase_unit: u32) -> usize {
        Self::storage_len_for(&Geometry {
            size,
            read_unit: 1,
            write_unit,
            erase_unit,
        })
    }

    /// [`storage_len`](Self::storage_len) for a whole [`Geometry`]; 0 if it is
    /// invalid or its buffer would not fit in memory.
    pub const fn storage_len_for(geometry: &Geometry) -> usize {
        if !geometry.is_valid() || (usize::MAX as u64) < geometry.size as u64 {
            return 0;
        }
        // Valid geometry: write_unit and erase_unit are non-zero, and both
        // quotients are at most `size`, which fits usize.
        let data = geometry.size as usize;
        let counts = (geometry.size / geometry.write_unit) as usize;
        let wear_units = (geometry.size / geometry.erase_unit) as usize;
        let Some(wear) = wear_units.checked_mul(WEAR_BYTES) else {
            return 0;
        };
        let Some(total) = data.checked_add(counts) else {
            return 0;
        };
        match total.checked_add(wear) {
            Some(total) => total,
            None => 0,
        }
    }

    /// A fresh region over `storage`: every data byte reads `0xFF`, all
    /// program and erase counters are 0.
    ///
    /// # Errors
    /// [`RamError::InvalidGeometry`] or [`RamError::StorageLength`] if
    /// `storage.len()` is not [`storage_len_for(&geometry)`](Self::storage_len_for).
    pub fn new(storage: S, geometry: Geometry) -> Result<Self, RamError> {
        let mut region = Self::with_contents(storage, geometry)?;
        if let Some(parts) = split(region.storage.as_mut(), region.data_len, region.write_units) {
            parts.data.fill(ERASED);
        }
        Ok(region)
    }

    /// A region over `storage` that keeps its first `geometry.size` bytes as
    /// the region's data (an arbitrary image, e.g. from a fuzzer) and zeroes
    /// all program and erase counters. Program counters of 0 mean "unknown"
    /// here: a write unit whose bytes read `0xFF` can be programmed, and one
    /// holding anything else is caught by the not-erased check.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_contents(mut storage: S, geometry: Geometry) -> Result<Self, RamError> {
        let expected = Self::storage_len_for(&geometry);
        if expected == 0 {
            return Err(RamError::InvalidGeometry);
        }
        let actual = storage.as_mut().len();
        if actual != expected {
            return Err(RamError::StorageLength { expected, actual });
        }
        let data_len = us(geometry.size);
        let write_units = us(geometry.size / geometry.write_unit);
        if let Some(parts) = split(storage.as_mut(), data_len, write_units) {
            parts.counts.fill(0);
            parts.wear.fill(0);
        }
        Ok(Self {
            storage,
            geometry,
            data_len,
            write_units,
            in_order: true,
            stats: RamStats::default(),
            steps: 0,
            cut: None,
            power_lost: false,
            fail_program: false,
            fail_erase: false,
            last_fault: None,
        })
    }

    /// Gives the buffer back (layout in the [type docs](RamRegion)).
    pub fn into_inner(self) -> S {
        self.storage
    }

    /// The data bytes, mutable, bypassing every rule and counter (for tests
    /// that corrupt or craft images).
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = self.data_len;
        self.storage.as_mut().get_mut(..len).unwrap_or(&mut [])
    }

    /// Sets what [`Region::persists_in_order`] reports (default `true`);
    /// `false` emulates a memory-mapped file: it also makes every cut tear
    /// as [`TearMode::Prefix`] (a front-to-back copy of whole bytes cut
    /// short, FORMAT.md §10.1), whatever mode was armed.
    pub fn set_in_order(&mut self, in_order: bool) {
        self.in_order = in_order;
    }

    /// Operation counters since construction or [`reset_stats`](Self::reset_stats).
    pub fn stats(&self) -> RamStats {
        self.stats
    }

    /// Zeroes the operation counters (not the wear counters).
    pub fn reset_stats(&mut self) {
        self.stats = RamStats::default();
    }

    /// Number of erase units in the region.
    pub fn erase_units(&self) -> u32 {
        self.geometry.erase_units()
    }

    /// How many times erase unit `unit` was erased (torn erases included),
    /// saturating; 0 for a unit past the end.
    pub fn erase_count(&self, unit: u32) -> u32 {
        let Some(start) = us(unit).checked_mul(WEAR_BYTES) else {
            return 0;
        };
        let Some(wear) = self.wear() else {
            return 0;
        };
        match wear
            .get(start..)
            .and_then(|w| w.first_chunk::<WEAR_BYTES>())
        {
            Some(bytes) => u32::from_le_bytes(*bytes),
            None => 0,
        }
    }

    /// The erase counts of all erase units, in order.
    pub fn erase_counts(&self) -> impl Iterator<Item = u32> + '_ {
        self.wear()
            .unwrap_or(&[])
            .chunks_exact(WEAR_BYTES)
            .map(|c| {
                c.first_chunk::<WEAR_BYTES>()
                    .map_or(0, |b| u32::from_le_bytes(*b))
            })
    }

    /// Programs of the write unit containing byte `offset` since its last
    /// erase (saturating at 255); `None` past the end.
    pub fn program_count(&self, offset: u32) -> Option<u8> {
        if offset >= self.geometry.size {
            return None;
        }
        let unit = us(offset / self.geometry.write_unit);
        let start = self.data_len.checked_add(unit)?;
        self.storage.as_ref().get(start).copied()
    }

    fn wear(&self) -> Option<&[u8]> {
        let start = self.data_len.checked_add(self.write_units)?;
        self.storage.as_ref().get(start..)
    }

    fn check_power(&self) -> Result<(), RamError> {
        if self.power_lost {
            Err(RamError::PowerLost)
        } else {
            Ok(())
        }
    }

    fn length_error(&self) -> RamError {
        RamError::StorageLength {
            expected: Self::storage_len_for(&self.geometry),
            actual: self.storage.as_ref().len(),
        }
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> fmt::Debug for RamRegion<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RamRegion")
            .field("geometry", &self.geometry)
            .field("in_order", &self.in_order)
            .field("stats", &self.stats)
            .field("steps", &self.steps)
            .field("pending_cut", &self.pending_cut())
            .field("power_lost", &self.power_lost)
            .field("last_fault", &self.last_fault)
            .finish_non_exhaustive()
    }
}
