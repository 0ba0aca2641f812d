//! [`Region`]s over any [`embedded_storage::nor_flash::NorFlash`]:
//! [`FlashRegion`] (owns its flash) and [`SharedFlashRegion`] (both regions
//! on one flash, through a `RefCell` or, with feature `critical-section`, a
//! `critical_section::Mutex`: the cells are in `share`). [`FlashRegion`]'s
//! docs give the geometry rules and the durability argument.
//!
//! The adapter only moves bytes: every byte twinkv stores is encoded and
//! decoded by the pure functions of [`crate::format`], so an async front end
//! over `embedded-storage-async` needs no second format implementation.

use core::cell::RefCell;
use core::fmt;
use core::ops::Range;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use crate::medium::region::{Geometry, Region};
use crate::medium::share::FlashCell;

/// Largest `READ_SIZE` the adapter bounces unaligned reads for (bytes of
/// stack used by a bounced read).
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub const MAX_READ_SIZE: usize = 32;

/// Errors of a flash region: the flash's own error, or a call the adapter
/// refused before reaching the flash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub enum FlashError<E> {
    /// The flash reported an error.
    Flash(E),
    /// The range is not inside the region. Core never asks for this; the
    /// check keeps a region from reaching its neighbour on the same flash.
    OutOfBounds,
    /// The shared flash's [`RefCell`] was already borrowed (the caller holds a
    /// borrow across a store call, or, behind a `critical_section::Mutex`,
    /// an interrupt handler that borrowed it is using it). Nothing was done.
    Busy,
}

impl<E> FlashError<E> {
    /// The flash's own error, if that is what this is.
    pub fn flash(&self) -> Option<&E> {
        match self {
            FlashError::Flash(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for FlashError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlashError::Flash(e) => write!(f, "flash error: {e:?}"),
            FlashError::OutOfBounds => f.write_str("range outside the flash region"),
            FlashError::Busy => f.write_str("shared flash already borrowed"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for FlashError<E> {}

impl<E: NorFlashError> NorFlashError for FlashError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::Flash(e) => e.kind(),
            FlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashError::Busy => NorFlashErrorKind::Other,
        }
    }
}

/// Why a flash region could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub enum FlashConfigError {
    /// `WRITE_SIZE` is not one of [`WRITE_UNITS`](crate::WRITE_UNITS).
    WriteSize,
    /// `ERASE_SIZE` is not a power of two, is smaller than `WRITE_SIZE` or
    /// larger than [`MAX_ERASE_UNIT`](crate::MAX_ERASE_UNIT).
    EraseSize,
    /// `READ_SIZE` is 0, larger than [`MAX_READ_SIZE`], or does not divide
    /// `ERASE_SIZE`.
    ReadSize,
    /// The region's offset or size is not a multiple of `ERASE_SIZE`.
    Misaligned,
    /// The region is empty, larger than `u32::MAX` bytes, or not inside the
    /// flash.
    OutOfBounds,
    /// The two regions of one flash overlap.
    Overlap,
    /// The shared flash's [`RefCell`] was mutably borrowed, so its capacity
    /// could not be read.
    Busy,
}

impl fmt::Display for FlashConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WriteSize => "flash WRITE_SIZE is not 1, 2, 4, 8, 16 or 32",
            Self::EraseSize => {
                "flash ERASE_SIZE is not a power of two between WRITE_SIZE and 1 MiB"
            }
            Self::ReadSize => "flash READ_SIZE is 0, above 32 or does not divide ERASE_SIZE",
            Self::Misaligned => "region offset or size is not a multiple of ERASE_SIZE",
            Self::OutOfBounds => "region is empty or not inside the flash",
            Self::Overlap => "the two regions overlap",
            Self::Busy => "shared flash already borrowed",
        })
    }
}

impl core::error::Error for FlashConfigError {}

/// The [`Geometry`] of a region of `size` bytes on flash type `F`. `const`,
/// so a firmware can check its configuration at compile time with
/// [`Config::fits`](crate::Config::fits) (example on [`FlashRegion`]).
/// The result is only meaningful if it is [valid](Geometry::is_valid).
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub const fn flash_geometry<F: NorFlash>(size: u32) -> Geometry {
    Geometry {
        size,
        read_unit: clamp_u32(F::READ_SIZE),
        write_unit: clamp_u32(F::WRITE_SIZE),
        erase_unit: clamp_u32(F::ERASE_SIZE),
    }
}

const fn clamp_u32(x: usize) -> u32 {
    if x > u32::MAX as usize {
        u32::MAX
    } else {
        x as u32
    }
}

/// Checks `F`'s units and the range `offset .. offset + size` of a flash of
/// `capacity` bytes; returns the region geometry.
fn check_region<F: NorFlash>(
    capacity: usize,
    offset: u32,
    size: u32,
) -> Result<Geometry, FlashConfigError> {
    check_units(
        [F::READ_SIZE, F::WRITE_SIZE, F::ERASE_SIZE],
        capacity,
        offset,
        size,
    )
}

/// [`check_region`] for a flash whose read, write and erase sizes are
/// `units` (shared with the async adapter, whose flash trait is another).
pub(crate) fn check_units(
    units: [usize; 3],
    capacity: usize,
    offset: u32,
    size: u32,
) -> Result<Geometry, FlashConfigError> {
    let [r, w, e] = units;
    if !matches!(w, 1 | 2 | 4 | 8 | 16 | 32) {
        return Err(FlashConfigError::WriteSize);
    }
    let g = Geometry {
        size,
        read_unit: clamp_u32(r),
        write_unit: clamp_u32(w),
        erase_unit: clamp_u32(e),
    };
    if !e.is_power_of_two() || e < w || e > crate::MAX_ERASE_UNIT as usize {
        return Err(FlashConfigError::EraseSize);
    }
    if r == 0 || r > MAX_READ_SIZE || !e.is_multiple_of(r) {
        return Err(FlashConfigError::ReadSize);
    }
    if size == 0 {
        return Err(FlashConfigError::OutOfBounds);
    }
    if !offset.is_multiple_of(g.erase_unit) || !size.is_multiple_of(g.erase_unit) {
        return Err(FlashConfigError::Misaligned);
    }
    if u64::from(offset) + u64::from(size) > capacity as u64 {
        return Err(FlashConfigError::OutOfBounds);
    }
    if !g.is_valid() {
        // Every rule of `Geometry::is_valid` is checked above; keep the two in
        // step if one changes.
        return Err(FlashConfigError::EraseSize);
    }
    Ok(g)
}

/// The whole flash as one range, if it fits `u32`.
pub(crate) fn whole_size(capacity: usize) -> Result<u32, FlashConfigError> {
    u32::try_from(capacity).map_err(|_| FlashConfigError::OutOfBounds)
}

/// Absolute flash offset of `offset .. offset + len` inside a region at
/// `base` of `size` bytes.
pub(crate) fn locate<E>(
    base: u32,
    size: u32,
    offset: u32,
    len: usize,
) -> Result<u32, FlashError<E>> {
    let len = u32::try_from(len).map_err(|_| FlashError::OutOfBounds)?;
    locate_u32(base, size, offset, len)
}

/// [`locate`] for a `u32` length.
pub(crate) fn locate_u32<E>(
    base: u32,
    size: u32,
    offset: u32,
    len: u32,
) -> Result<u32, FlashError<E>> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(base + offset),
        _ => Err(FlashError::OutOfBounds),
    }
}

/// The default of [`FlashRegion::with_unreadable`]: no read error is.
pub(crate) fn no_read_faults<E>(_: &E) -> bool {
    false
}

/// One flash read of a [`read_plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Read whole read units at flash offset `at` straight into
    /// `buf[buf]`.
    Direct {
        at: u32,
        buf: core::ops::Range<usize>,
    },
    /// Read the one read unit (`len` bytes) at flash offset `unit` into the
    /// bounce buffer and copy its bytes `skew ..` into `buf[buf]`.
    Bounce {
        unit: u32,
        len: usize,
        skew: usize,
        buf: core::ops::Range<usize>,
    },
}

impl Piece {
    /// Where this piece's flash read goes: its flash offset and the bytes
    /// it fills (part of `buf`, or of `bounce`).
    pub(crate) fn target<'b>(
        &self,
        buf: &'b mut [u8],
        bounce: &'b mut [u8; MAX_READ_SIZE],
    ) -> (u32, &'b mut [u8]) {
        match self {
            Piece::Direct { at, buf: range } => (*at, &mut buf[range.clone()]),
            Piece::Bounce { unit, len, .. } => (*unit, &mut bounce[..*len]),
        }
    }

    /// After the read: a bounced piece's bytes into `buf`.
    pub(crate) fn finish(&self, buf: &mut [u8], bounce: &[u8; MAX_READ_SIZE]) {
        if let Piece::Bounce {
            skew, buf: range, ..
        } = self
        {
            buf[range.clone()].copy_from_slice(&bounce[*skew..*skew + range.len()]);
        }
    }
}

/// How a read of `len` bytes at absolute offset `at` is done with a flash of
/// read unit `r` (`READ_SIZE`, at most [`MAX_READ_SIZE`]): the aligned
/// middle straight into the caller's buffer, an unaligned head or tail
/// through one read unit of bounce buffer each. The region is aligned to
/// erase units, which are multiples of `READ_SIZE`, so a bounced read never
/// leaves the region. Shared by the blocking and the async flash regions,
/// which only perform the pieces.
pub(crate) fn read_plan(at: u32, len: usize, r: usize) -> impl Iterator<Item = Piece> {
    let mut at = at;
    let mut done = 0usize;
    core::iter::from_fn(move || {
        let rest = len - done;
        if rest == 0 {
            return None;
        }
        let skew = if r <= 1 { 0 } else { at as usize % r };
        let (piece, n) = if r <= 1 || (skew == 0 && rest >= r) {
            let n = if r <= 1 { rest } else { rest - rest % r };
            let buf = done..done + n;
            (Piece::Direct { at, buf }, n)
        } else {
            let n = core::cmp::min(r - skew, rest);
            let buf = done..done + n;
            let unit = at - skew as u32;
            (
                Piece::Bounce {
                    unit,
                    len: r,
                    skew,
                    buf,
                },
                n,
            )
        };
        at += n as u32;
        done += n;
        Some(piece)
    })
}

/// Reads `buf.len()` bytes at absolute offset `at`, honouring `READ_SIZE`
/// (see [`read_plan`]).
fn read_bounced<F: ReadNorFlash>(flash: &mut F, at: u32, buf: &mut [u8]) -> Result<(), F::Error> {
    if F::READ_SIZE <= 1 {
        return flash.read(at, buf);
    }
    let mut bounce = [0u8; MAX_READ_SIZE];
    for piece in read_plan(at, buf.len(), F::READ_SIZE) {
        let (from, into) = piece.target(buf, &mut bounce);
        flash.read(from, into)?;
        piece.finish(buf, &bounce);
    }
    Ok(())
}

#[cfg(test)]
mod read_plan_tests {
    use super::{read_plan, Piece};

    /// Every plan covers `0..len` in order, reads only whole, aligned read
    /// units (a bounce exactly one), and bounces only what is not aligned.
    #[test]
    fn plans_cover_the_read_in_aligned_units() {
        for r in [1usize, 2, 4, 8, 16, 32] {
            for at in 0..3 * r as u32 {
                for len in 0..4 * r {
                    let mut next = 0;
                    for p in read_plan(at, len, r) {
                        match p {
                            Piece::Direct { at: a, buf } => {
                                assert_eq!(buf.start, next);
                                assert_eq!(a, at + buf.start as u32);
                                if r > 1 {
                                    assert_eq!(a as usize % r, 0);
                                    assert_eq!(buf.len() % r, 0);
                                }
                                next = buf.end;
                            }
                            Piece::Bounce {
                                unit,
                                len: l,
                                skew,
                                buf,
                            } => {
                                assert!(r > 1 && l == r);
                                assert_eq!(unit as usize % r, 0);
                                assert_eq!(buf.start, next);
                                assert_eq!(unit + skew as u32, at + buf.start as u32);
                                assert!(skew + buf.len() <= r);
                                // Bounced only when not an aligned whole unit.
                                assert!(skew != 0 || buf.len() < r);
                                next = buf.end;
                            }
                        }
                    }
                    assert_eq!(next, len, "r={r} at={at} len={len}");
                }
            }
        }
        assert_eq!(read_plan(5, 0, 4).count(), 0);
        // r = 4, bytes 3..13: one bounced head, two aligned units, a bounced tail.
        let mut plan = read_plan(3, 10, 4);
        let head = Piece::Bounce {
            unit: 0,
            len: 4,
            skew: 3,
            buf: 0..1,
        };
        assert_eq!(plan.next(), Some(head));
        assert_eq!(plan.next(), Some(Piece::Direct { at: 4, buf: 1..9 }));
        let tail = Piece::Bounce {
            unit: 12,
            len: 4,
            skew: 0,
            buf: 9..10,
        };
        assert_eq!(plan.next(), Some(tail));
        assert_eq!(plan.next(), None);
    }
}

/// A [`Region`] over a range of a flash value it owns (`F` may be a
/// `&mut` to a flash, since `embedded-storage` implements `NorFlash` for it):
/// one region per flash value, e.g. two partitions a HAL hands out as
/// separate values, or two chips. To put both regions of a store on one
/// flash, use [`SharedFlashRegion`] (same rules).
///
/// # Geometry
///
/// `READ_SIZE`, `WRITE_SIZE` and `ERASE_SIZE` become the region's
/// [`Geometry`] (`read_unit`, `write_unit`, `erase_unit`). Core reads at any
/// offset and length; when `READ_SIZE > 1` the adapter reads the aligned
/// middle of a request straight into the caller's buffer and bounces the
/// unaligned head and tail through a stack buffer of [`MAX_READ_SIZE`] bytes.
///
/// Construction rejects, with a [`FlashConfigError`], what twinkv cannot
/// serve: a `WRITE_SIZE` outside [`WRITE_UNITS`](crate::WRITE_UNITS), an
/// erase unit that is not a power of two between the write unit and
/// [`MAX_ERASE_UNIT`](crate::MAX_ERASE_UNIT), a `READ_SIZE` above
/// [`MAX_READ_SIZE`] or not dividing the erase unit, and regions that are
/// empty, not aligned to erase units, outside the flash or overlapping.
/// Whether a configuration's largest record fits capacity × max-fill is
/// [`Config::fits`](crate::Config::fits)' job: [`Store::open`](crate::Store::open)
/// refuses with [`Error::InvalidConfig`](crate::Error::InvalidConfig), and
/// [`flash_geometry`] lets a firmware check it at compile time:
///
/// ```
/// # #[cfg(feature = "flash-sim")] {
/// use twinkv_core::{flash_geometry, Config, Geometry, SimFlash};
/// type Flash = SimFlash<&'static mut [u8], 8, 4096>;
/// const CONFIG: Config = Config::new(0x5EED).with_limits(32, 256);
/// const G: Geometry = flash_geometry::<Flash>(8192);
/// const _: () = assert!(CONFIG.fits(G, G));
/// # }
/// ```
///
/// # Durability
///
/// [`Region::sync`] does nothing: a NOR flash `write` or `erase` returns only
/// once the cells are programmed or erased, so everything is durable on
/// return, in issue order ([`Region::persists_in_order`] is `true`). A driver
/// that buffers writes (a write-back cache in front of the part) breaks this
/// and must flush inside its own `write` to be used here.
///
/// The power-loss contract of [`Region`] is what `embedded-storage` promises
/// for `NorFlash`: an interrupted write leaves its words undefined and the
/// rest unchanged, an interrupted erase leaves its pages undefined, and no
/// word is written twice between erases (twinkv never asks for that).
///
/// # Errors
///
/// [`FlashError::Flash`] carries the flash's own error, so it stays reachable
/// through core's [`Error::Region`](crate::Error::Region).
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub struct FlashRegion<F: ErrorType> {
    flash: F,
    base: u32,
    geometry: Geometry,
    unreadable: fn(&F::Error) -> bool,
}

impl<F: NorFlash> FlashRegion<F> {
    /// The region `offset .. offset + size` of `flash` (both multiples of
    /// `ERASE_SIZE`).
    ///
    /// # Errors
    /// See [`FlashConfigError`].
    pub fn new(flash: F, offset: u32, size: u32) -> Result<Self, FlashConfigError> {
        let geometry = check_region::<F>(flash.capacity(), offset, size)?;
        Ok(FlashRegion {
            flash,
            base: offset,
            geometry,
            unreadable: no_read_faults::<F::Error>,
        })
    }

    /// The whole of `flash` as one region.
    ///
    /// # Errors
    /// See [`FlashConfigError`].
    pub fn whole(flash: F) -> Result<Self, FlashConfigError> {
        let size = whole_size(flash.capacity())?;
        Self::new(flash, 0, size)
    }

    /// Offset of the region in the flash.
    pub fn offset(&self) -> u32 {
        self.base
    }

    /// Declares which errors of the flash's `read` mean that the bytes asked
    /// for cannot be read — an uncorrectable ECC error, which an STM32H7,
    /// H5, U5, L5, WB or G4 raises for a flash word a power cut left torn
    /// (see the README, "Flash with ECC") — rather than that the flash
    /// failed. twinkv then reads around such a word: where a cut can leave
    /// a torn word it is taken as torn (never a failure of open), elsewhere
    /// as damage, reported per FORMAT.md §6.2 and §10 ([`Region::unreadable`]).
    /// By default no error is: every read error is returned to the caller.
    #[must_use]
    pub fn with_unreadable(mut self, unreadable: fn(&F::Error) -> bool) -> Self {
        self.unreadable = unreadable;
        self
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash, mutable (e.g. to inject a fault in a simulator). Writing
    /// inside the region behind core's back breaks its assumptions.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash back.
    pub fn into_inner(self) -> F {
        self.flash
    }
}

impl<F: NorFlash> Region for FlashRegion<F> {
    type Error = FlashError<F::Error>;

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// NOR flash programs are durable on return, in order.
    fn persists_in_order(&self) -> bool {
        true
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        let at = locate(self.base, self.geometry.size, offset, buf.len())?;
        read_bounced(&mut self.flash, at, buf).map_err(FlashError::Flash)
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        let at = locate(self.base, self.geometry.size, offset, data.len())?;
        self.flash.write(at, data).map_err(FlashError::Flash)
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = to.checked_sub(from).ok_or(FlashError::OutOfBounds)?;
        let at = locate_u32(self.base, self.geometry.size, from, len)?;
        self.flash.erase(at, at + len).map_err(FlashError::Flash)
    }

    /// Nothing to do: NOR writes and erases are durable when they return.
    fn sync(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The flash errors declared with
    /// [`with_unreadable`](Self::with_unreadable) (none by default); the
    /// adapter's own errors never are.
    fn unreadable(&self, error: &Self::Error) -> bool {
        matches!(error, FlashError::Flash(e) if (self.unreadable)(e))
    }
}

/// A [`Region`] over a range of a flash shared through a [`RefCell`], so
/// both regions of a store can live on one device: two ranges of one flash
/// ([`pair`](Self::pair)) or one partition split in two halves
/// ([`halves`](Self::halves)). Geometry, construction checks and durability
/// are as for [`FlashRegion`]. Each call borrows the cell only for its own
/// duration (core never calls into one region while a call into the other is
/// in progress); if the caller holds a borrow across a store call, the call
/// fails with [`FlashError::Busy`] instead of panicking.
///
/// `S` is the cell both regions reach the flash through ([`FlashCell`]): a
/// `RefCell<F>` by default, which is not `Sync`, so a store over it is not
/// `Send` (one execution context: a superloop, or one task). For a store
/// that moves between contexts (an RTIC resource, a task spawned through
/// embassy's `SendSpawner`), put the flash in a `critical_section::Mutex`
/// (feature `critical-section`): `MutexFlashRegion`.
///
/// ```
/// # #[cfg(feature = "flash-sim")] {
/// use core::cell::RefCell;
/// use twinkv_core::{Config, FixedIndex, SharedFlashRegion, SimFlash, Store};
///
/// // A 2 KiB simulated NOR flash: write unit 4, erase unit 256.
/// type Flash = SimFlash<Vec<u8>, 4, 256>;
/// let flash = RefCell::new(Flash::new(vec![0; Flash::storage_len(2048)], 2048).unwrap());
/// // One partition (the whole flash) split into two 1 KiB regions.
/// let (a, b) = SharedFlashRegion::halves(&flash, 0, 2048).unwrap();
/// let config = Config::new(0x5EED).with_limits(16, 32);
/// let mut scratch = [0u8; 128];
/// let mut store = Store::open(a, b, FixedIndex::<64>::new(), &mut scratch[..], config).unwrap();
/// store.set(b"volume", b"7").unwrap();
/// let mut buf = [0u8; 32];
/// assert_eq!(store.get(b"volume", &mut buf).unwrap(), Some(1));
///
/// // Or two 8 KiB regions at the end of a 64 KiB flash, firmware below them.
/// type Big = SimFlash<Vec<u8>, 8, 4096>;
/// let big = RefCell::new(Big::new(vec![0; Big::storage_len(64 * 1024)], 64 * 1024).unwrap());
/// let (a, b) = SharedFlashRegion::pair(&big, 48 * 1024..56 * 1024, 56 * 1024..64 * 1024).unwrap();
/// # let _ = (a, b);
/// # }
/// ```
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub struct SharedFlashRegion<'a, F: ErrorType, S = RefCell<F>> {
    flash: &'a S,
    base: u32,
    geometry: Geometry,
    unreadable: fn(&F::Error) -> bool,
}

impl<'a, F: NorFlash, S: FlashCell<Flash = F>> SharedFlashRegion<'a, F, S> {
    /// The region `offset .. offset + size` of the shared `flash`.
    ///
    /// # Errors
    /// See [`FlashConfigError`]; [`FlashConfigError::Busy`] if the cell is
    /// borrowed mutably right now (its capacity cannot be read).
    pub fn new(flash: &'a S, offset: u32, size: u32) -> Result<Self, FlashConfigError> {
        let capacity = capacity_of(flash)?;
        let geometry = check_region::<F>(capacity, offset, size)?;
        Ok(SharedFlashRegion {
            flash,
            base: offset,
            geometry,
            unreadable: no_read_faults::<F::Error>,
        })
    }

    /// The whole shared flash as one region (e.g. one of two flash chips).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn whole(flash: &'a S) -> Result<Self, FlashConfigError> {
        let size = whole_size(capacity_of(flash)?)?;
        Self::new(flash, 0, size)
    }

    /// Regions A and B over two ranges of one flash. The ranges may differ in
    /// size (twinkv allows it) but must not overlap.
    ///
    /// # Errors
    /// As [`new`](Self::new) for each range, and
    /// [`FlashConfigError::Overlap`].
    pub fn pair(
        flash: &'a S,
        a: Range<u32>,
        b: Range<u32>,
    ) -> Result<(Self, Self), FlashConfigError> {
        let len = |r: &Range<u32>| {
            r.end
                .checked_sub(r.start)
                .ok_or(FlashConfigError::OutOfBounds)
        };
        let ra = Self::new(flash, a.start, len(&a)?)?;
        let rb = Self::new(flash, b.start, len(&b)?)?;
        if a.start < b.end && b.start < a.end {
            return Err(FlashConfigError::Overlap);
        }
        Ok((ra, rb))
    }

    /// Regions A and B as the two halves of the partition
    /// `offset .. offset + size`; each half must be a whole number of erase
    /// units, so `size` must be a multiple of two erase units.
    ///
    /// # Errors
    /// As [`new`](Self::new) for each half.
    pub fn halves(flash: &'a S, offset: u32, size: u32) -> Result<(Self, Self), FlashConfigError> {
        let half = size / 2;
        if !size.is_multiple_of(2) {
            return Err(FlashConfigError::Misaligned);
        }
        let mid = offset
            .checked_add(half)
            .ok_or(FlashConfigError::OutOfBounds)?;
        Ok((
            Self::new(flash, offset, half)?,
            Self::new(flash, mid, half)?,
        ))
    }

    /// Offset of the region in the flash.
    pub fn offset(&self) -> u32 {
        self.base
    }

    /// Declares which errors of the flash's `read` mean that the bytes asked
    /// for cannot be read — an uncorrectable ECC error, which an STM32H7,
    /// H5, U5, L5, WB or G4 raises for a flash word a power cut left torn
    /// (see the README, "Flash with ECC") — rather than that the flash
    /// failed. twinkv then reads around such a word: where a cut can leave
    /// a torn word it is taken as torn (never a failure of open), elsewhere
    /// as damage, reported per FORMAT.md §6.2 and §10 ([`Region::unreadable`]).
    /// By default no error is: every read error is returned to the caller.
    #[must_use]
    pub fn with_unreadable(mut self, unreadable: fn(&F::Error) -> bool) -> Self {
        self.unreadable = unreadable;
        self
    }

    /// The shared flash.
    pub fn flash(&self) -> &'a S {
        self.flash
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut F) -> Result<T, F::Error>,
    ) -> Result<T, FlashError<F::Error>> {
        match self.flash.try_with(f) {
            Some(r) => r.map_err(FlashError::Flash),
            None => Err(FlashError::Busy),
        }
    }
}

fn capacity_of<S: FlashCell>(flash: &S) -> Result<usize, FlashConfigError> {
    flash
        .try_read(|f| f.capacity())
        .ok_or(FlashConfigError::Busy)
}

impl<F: NorFlash, S: FlashCell<Flash = F>> Region for SharedFlashRegion<'_, F, S> {
    type Error = FlashError<F::Error>;

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// NOR flash programs are durable on return, in order.
    fn persists_in_order(&self) -> bool {
        true
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        let at = locate(self.base, self.geometry.size, offset, buf.len())?;
        self.with(|f| read_bounced(f, at, buf))
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        let at = locate(self.base, self.geometry.size, offset, data.len())?;
        self.with(|f| f.write(at, data))
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = to.checked_sub(from).ok_or(FlashError::OutOfBounds)?;
        let at = locate_u32(self.base, self.geometry.size, from, len)?;
        self.with(|f| f.erase(at, at + len))
    }

    /// Nothing to do: NOR writes and erases are durable when they return.
    fn sync(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The flash errors declared with
    /// [`with_unreadable`](Self::with_unreadable) (none by default); the
    /// adapter's own errors never are.
    fn unreadable(&self, error: &Self::Error) -> bool {
        matches!(error, FlashError::Flash(e) if (self.unreadable)(e))
    }
}
