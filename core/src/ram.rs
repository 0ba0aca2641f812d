//! [`RamRegion`]: a strict, fault-injecting [`Region`](crate::Region) held in
//! memory. Its type docs describe the buffer layout, the rules and the fault
//! model.

use core::fmt;
use core::ops::Range;

use crate::region::{Geometry, MappedRegion, Region, ERASED};

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

/// A fault that fired, as reported by [`RamRegion::last_fault`].
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
    /// Power was cut between operations by [`RamRegion::cut_power`].
    PowerCut,
    /// [`RamRegion::fail_next_program`] failed a program at `offset`.
    InjectedProgram {
        /// Offset of the failed program.
        offset: u32,
    },
    /// [`RamRegion::fail_next_erase`] failed an erase starting at `from`.
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

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, deterministic PRNG.
/// Good enough to pick fault patterns; not for anything cryptographic.
#[derive(Clone, Copy, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    const fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (modulo bias is irrelevant here); 0 if `n == 0`.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
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

/// Tears one write unit being programmed: `dst` holds the old (erased) bytes,
/// `new` the data. Returns whether any byte changed.
fn tear_program(dst: &mut [u8], new: &[u8], mode: TearMode, rng: &mut SplitMix64) -> bool {
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
fn tear_erase(dst: &mut [u8], rng: &mut SplitMix64) -> bool {
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
    /// `false` emulates a memory-mapped file: it also makes a cut tear bytes,
    /// not bits ([`TearMode::RandomBits`] acts as [`TearMode::Subset`]), as
    /// a file stores whole bytes (FORMAT.md §10.1).
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

    /// Arms a power cut after `steps` more steps (one per write unit
    /// programmed or erase unit erased): exactly `steps` units complete, the
    /// next one is torn per `mode` (programs) or left partly erased (erases),
    /// using a SplitMix64 generator seeded with `seed`. Replaces any armed cut.
    /// See the [type docs](RamRegion) for the exact model.
    pub fn cut_power_after(&mut self, steps: u64, mode: TearMode, seed: u64) {
        self.cut = Some(Cut {
            fuel: steps,
            mode,
            rng: SplitMix64::new(seed),
        });
    }

    /// Disarms a pending [`cut_power_after`](Self::cut_power_after). Does not
    /// restore power already lost.
    pub fn cancel_cut(&mut self) {
        self.cut = None;
    }

    /// Steps left before an armed cut fires, or `None` if none is armed.
    pub fn pending_cut(&self) -> Option<u64> {
        self.cut.map(|c| c.fuel)
    }

    /// Cuts power now, between operations: nothing is torn, every later call
    /// fails with [`RamError::PowerLost`] until [`restore_power`](Self::restore_power).
    /// Disarms a pending cut.
    pub fn cut_power(&mut self) {
        self.cut = None;
        self.power_lost = true;
        self.last_fault = Some(Fault::PowerCut);
    }

    /// Whether power is lost (calls fail with [`RamError::PowerLost`]).
    pub fn power_lost(&self) -> bool {
        self.power_lost
    }

    /// Restores power after a cut: calls work again on the bytes as the cut
    /// left them (the "reboot"; reopen the store on this region).
    pub fn restore_power(&mut self) {
        self.power_lost = false;
    }

    /// Units (write units programmed plus erase units erased) fully completed
    /// since construction or [`reset_steps`](Self::reset_steps). A torn unit
    /// is not counted. Run a workload uncut to learn its `N` steps, then cut
    /// it at `0..N`.
    pub fn steps_taken(&self) -> u64 {
        self.steps
    }

    /// Zeroes [`steps_taken`](Self::steps_taken).
    pub fn reset_steps(&mut self) {
        self.steps = 0;
    }

    /// Makes the next `program` call that passes validation fail with
    /// [`RamError::Injected`], changing nothing and costing no step.
    pub fn fail_next_program(&mut self) {
        self.fail_program = true;
    }

    /// Makes the next `erase` call that passes validation fail with
    /// [`RamError::Injected`], changing nothing and costing no step.
    pub fn fail_next_erase(&mut self) {
        self.fail_erase = true;
    }

    /// The fault that fired last, if any.
    pub fn last_fault(&self) -> Option<Fault> {
        self.last_fault
    }

    /// Flips bit `bit` (0 = least significant) of the data byte at `offset`,
    /// leaving program counters alone. Works while power is lost.
    ///
    /// # Errors
    /// [`RamError::OutOfBounds`] if `offset` is past the end or `bit > 7`.
    pub fn flip_bit(&mut self, offset: u32, bit: u8) -> Result<(), RamError> {
        if bit > 7 || offset >= self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let byte = self
            .data_mut()
            .get_mut(us(offset))
            .ok_or(RamError::OutOfBounds)?;
        *byte ^= 1 << bit;
        self.last_fault = Some(Fault::BitFlip { offset, bit });
        Ok(())
    }

    /// Flips one bit chosen from `range` by a SplitMix64 generator seeded
    /// with `seed`, and returns its `(offset, bit)`.
    ///
    /// # Errors
    /// [`RamError::OutOfBounds`] if `range` is empty or not inside the region.
    pub fn flip_random_bit(&mut self, range: Range<u32>, seed: u64) -> Result<(u32, u8), RamError> {
        if range.start >= range.end || range.end > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let mut rng = SplitMix64::new(seed);
        let len = u64::from(range.end - range.start);
        let pick = u32::try_from(rng.below(len)).map_err(|_| RamError::OutOfBounds)?;
        let offset = range.start + pick;
        let bit = u8::try_from(rng.below(8)).map_err(|_| RamError::OutOfBounds)?;
        self.flip_bit(offset, bit)?;
        Ok((offset, bit))
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

impl<S: AsRef<[u8]> + AsMut<[u8]>> Region for RamRegion<S> {
    type Error = RamError;

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn persists_in_order(&self) -> bool {
        self.in_order
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), RamError> {
        self.check_power()?;
        let len = u32::try_from(buf.len()).map_err(|_| RamError::OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(RamError::OutOfBounds)?;
        if end > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let src = self
            .storage
            .as_ref()
            .get(us(offset)..us(end))
            .ok_or(RamError::OutOfBounds)?;
        buf.copy_from_slice(src);
        self.stats.reads = self.stats.reads.saturating_add(1);
        self.stats.bytes_read = self.stats.bytes_read.saturating_add(u64::from(len));
        Ok(())
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), RamError> {
        self.check_power()?;
        let w = self.geometry.write_unit;
        let len = u32::try_from(data.len()).map_err(|_| RamError::OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(RamError::OutOfBounds)?;
        if end > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        if !offset.is_multiple_of(w) || !len.is_multiple_of(w) {
            return Err(RamError::Misaligned);
        }
        let length_error = self.length_error();
        let Parts {
            data: bytes,
            counts,
            ..
        } = split(self.storage.as_mut(), self.data_len, self.write_units).ok_or(length_error)?;
        let first_unit = us(offset / w);
        let counts = counts
            .get_mut(first_unit..us(end / w))
            .ok_or(RamError::OutOfBounds)?;
        let target = bytes
            .get_mut(us(offset)..us(end))
            .ok_or(RamError::OutOfBounds)?;
        if let Some(i) = counts.iter().position(|&c| c > 0) {
            return Err(RamError::AlreadyProgrammed {
                offset: offset + (i as u32) * w,
            });
        }
        if let Some(i) = target.iter().position(|&b| b != ERASED) {
            return Err(RamError::NotErased {
                offset: offset + i as u32,
            });
        }
        if self.fail_program {
            self.fail_program = false;
            self.last_fault = Some(Fault::InjectedProgram { offset });
            return Err(RamError::Injected);
        }
        let units = target
            .chunks_exact_mut(us(w))
            .zip(data.chunks_exact(us(w)))
            .zip(counts.iter_mut());
        for (k, ((dst, new), count)) in units.enumerate() {
            if let Some(cut) = &mut self.cut {
                if cut.fuel == 0 {
                    // A memory-mapped file stores whole bytes: a cut leaves
                    // each byte old or new, never a mix of bits (FORMAT.md
                    // §10.1).
                    let mode = match cut.mode {
                        TearMode::RandomBits if !self.in_order => TearMode::Subset,
                        m => m,
                    };
                    if tear_program(dst, new, mode, &mut cut.rng) {
                        *count = count.saturating_add(1);
                    }
                    self.cut = None;
                    self.power_lost = true;
                    self.last_fault = Some(Fault::TornProgram {
                        offset: offset + (k as u32) * w,
                        mode,
                    });
                    return Err(RamError::PowerLost);
                }
                cut.fuel -= 1;
            }
            for (d, n) in dst.iter_mut().zip(new) {
                *d &= *n;
            }
            *count = count.saturating_add(1);
            self.steps = self.steps.saturating_add(1);
        }
        self.stats.programs = self.stats.programs.saturating_add(1);
        self.stats.bytes_programmed = self.stats.bytes_programmed.saturating_add(u64::from(len));
        Ok(())
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamError> {
        self.check_power()?;
        if from > to || to > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let e = self.geometry.erase_unit;
        if !from.is_multiple_of(e) || !to.is_multiple_of(e) {
            return Err(RamError::EraseMisaligned);
        }
        let w = self.geometry.write_unit;
        let length_error = self.length_error();
        let Parts {
            data: bytes,
            counts,
            wear,
        } = split(self.storage.as_mut(), self.data_len, self.write_units).ok_or(length_error)?;
        let bytes = bytes
            .get_mut(us(from)..us(to))
            .ok_or(RamError::OutOfBounds)?;
        let counts = counts
            .get_mut(us(from / w)..us(to / w))
            .ok_or(RamError::OutOfBounds)?;
        let wear = wear
            .get_mut(us(from / e) * WEAR_BYTES..us(to / e) * WEAR_BYTES)
            .ok_or(RamError::OutOfBounds)?;
        if self.fail_erase {
            self.fail_erase = false;
            self.last_fault = Some(Fault::InjectedErase { from });
            return Err(RamError::Injected);
        }
        let units = bytes
            .chunks_exact_mut(us(e))
            .zip(counts.chunks_exact_mut(us(e / w)))
            .zip(wear.chunks_exact_mut(WEAR_BYTES));
        let mut erased: u64 = 0;
        for (k, ((dst, unit_counts), unit_wear)) in units.enumerate() {
            if let Some(old) = unit_wear.first_chunk_mut::<WEAR_BYTES>() {
                *old = u32::from_le_bytes(*old).saturating_add(1).to_le_bytes();
            }
            if let Some(cut) = &mut self.cut {
                if cut.fuel == 0 {
                    let reads_erased = tear_erase(dst, &mut cut.rng);
                    // Not reliably erased: refuse programs until a full erase.
                    for c in unit_counts.iter_mut() {
                        *c = (*c).max(1);
                    }
                    self.cut = None;
                    self.power_lost = true;
                    self.last_fault = Some(Fault::TornErase {
                        offset: from + (k as u32) * e,
                        reads_erased,
                    });
                    return Err(RamError::PowerLost);
                }
                cut.fuel -= 1;
            }
            dst.fill(ERASED);
            unit_counts.fill(0);
            erased += 1;
            self.steps = self.steps.saturating_add(1);
        }
        self.stats.erases = self.stats.erases.saturating_add(erased);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), RamError> {
        self.check_power()?;
        self.stats.syncs = self.stats.syncs.saturating_add(1);
        Ok(())
    }

    /// Compares in place; counted as one read of the whole range.
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, RamError> {
        self.check_power()?;
        if from > to || to > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let bytes = self
            .storage
            .as_ref()
            .get(us(from)..us(to))
            .ok_or(RamError::OutOfBounds)?;
        self.stats.reads = self.stats.reads.saturating_add(1);
        self.stats.bytes_read = self.stats.bytes_read.saturating_add(u64::from(to - from));
        Ok(crate::region::all_erased(bytes))
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> MappedRegion for RamRegion<S> {
    fn as_bytes(&self) -> &[u8] {
        self.storage.as_ref().get(..self.data_len).unwrap_or(&[])
    }
}
