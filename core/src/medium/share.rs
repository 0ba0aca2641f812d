//! How both regions of a store reach one flash: the [`FlashCell`] a
//! [`SharedFlashRegion`] borrows the flash from for each call. A `RefCell`
//! for one execution context; with feature `critical-section`, a
//! `critical_section::Mutex<RefCell<_>>` whose regions are `Send`
//! ([`MutexFlashRegion`]).

use core::cell::RefCell;

use embedded_storage::nor_flash::NorFlash;

#[cfg(doc)]
use crate::medium::flash::{FlashError, SharedFlashRegion};

/// A cell that lends a flash to one call at a time: what a
/// [`SharedFlashRegion`] holds a shared reference to. Implemented for
/// `RefCell<F>` and, with feature `critical-section`, for
/// `critical_section::Mutex<RefCell<F>>`.
///
/// An implementation lends the flash for the duration of the closure only,
/// to nobody else meanwhile, and answers `None` instead of blocking or
/// panicking when the flash is already lent (the region reports
/// [`FlashError::Busy`]). twinkv never nests the calls: a store calls into one
/// region at a time. Another lock (e.g. embassy-sync's blocking `Mutex`) fits
/// through a newtype that implements this trait.
///
/// ```
/// # #[cfg(feature = "flash-sim")] {
/// use core::cell::RefCell;
/// use twinkv_core::{FlashCell, SimFlash};
/// use embedded_storage::nor_flash::ReadNorFlash;
///
/// type Flash = SimFlash<Vec<u8>, 4, 256>;
/// let cell = RefCell::new(Flash::new(vec![0; Flash::storage_len(1024)], 1024).unwrap());
/// assert_eq!(cell.try_read(|f| f.capacity()), Some(1024));
/// let held = cell.borrow_mut();
/// assert_eq!(cell.try_read(|f| f.capacity()), None);
/// # drop(held);
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub trait FlashCell {
    /// The flash inside.
    type Flash: NorFlash;

    /// Runs `f` with the flash lent mutably, or `None` if it is lent already.
    fn try_with<T>(&self, f: impl FnOnce(&mut Self::Flash) -> T) -> Option<T>;

    /// Runs `f` with the flash lent for reading (its capacity), or `None` if
    /// it is lent mutably.
    fn try_read<T>(&self, f: impl FnOnce(&Self::Flash) -> T) -> Option<T>;
}

impl<F: NorFlash> FlashCell for RefCell<F> {
    type Flash = F;

    fn try_with<T>(&self, f: impl FnOnce(&mut F) -> T) -> Option<T> {
        let mut flash = self.try_borrow_mut().ok()?;
        Some(f(&mut flash))
    }

    fn try_read<T>(&self, f: impl FnOnce(&F) -> T) -> Option<T> {
        let flash = self.try_borrow().ok()?;
        Some(f(&flash))
    }
}

/// Each call runs inside `critical_section::with`: the flash is borrowed
/// with interrupts (or the other cores) held off for that call, so both
/// regions may live in different contexts and the store is `Send`.
#[cfg(feature = "critical-section")]
impl<F: NorFlash> FlashCell for critical_section::Mutex<RefCell<F>> {
    type Flash = F;

    fn try_with<T>(&self, f: impl FnOnce(&mut F) -> T) -> Option<T> {
        critical_section::with(|cs| self.borrow(cs).try_with(f))
    }

    fn try_read<T>(&self, f: impl FnOnce(&F) -> T) -> Option<T> {
        critical_section::with(|cs| self.borrow(cs).try_read(f))
    }
}

/// A [`SharedFlashRegion`] over a flash in a
/// `critical_section::Mutex<RefCell<F>>` (feature `critical-section`): both
/// regions on one flash, and `Send` when `F` is, so the store can be an RTIC
/// resource or move to a task spawned through embassy's `SendSpawner`. The
/// `RefCell` form stays the one for a single execution context.
///
/// Every read, program and erase runs inside `critical_section::with`, so
/// interrupts are held off for the length of one flash call, an erase
/// included (with erase ahead, at most one erase unit per write, FORMAT.md
/// §7.3). The firmware provides the critical-section implementation (e.g.
/// `cortex-m`'s `critical-section-single-core` feature). An interrupt handler
/// that uses the same flash through the mutex while a store call holds it
/// cannot: it is held off. A store call that finds the flash lent out (a
/// handler holding the `RefCell` across its own critical sections) fails with
/// [`FlashError::Busy`] and writes nothing.
///
/// ```
/// # #[cfg(feature = "flash-sim")] {
/// use core::cell::RefCell;
/// use critical_section::Mutex;
/// use twinkv_core::{Config, FixedIndex, MutexFlashRegion, Scratch, SimFlash, Store};
///
/// type Flash = SimFlash<Vec<u8>, 4, 256>;
/// let flash = Mutex::new(RefCell::new(
///     Flash::new(vec![0; Flash::storage_len(2048)], 2048).unwrap(),
/// ));
/// let (a, b) = MutexFlashRegion::halves(&flash, 0, 2048).unwrap();
/// const CONFIG: Config = Config::new(0x5EED).with_limits(16, 32);
/// let scratch = Scratch::<{ CONFIG.scratch_len(4) }>::new();
/// let mut store = Store::open(a, b, FixedIndex::<64>::new(), scratch, CONFIG).unwrap();
/// // The store moves to another thread (on a device: another context).
/// std::thread::scope(|s| {
///     s.spawn(move || store.set(b"volume", b"7").unwrap());
/// });
/// # }
/// ```
///
/// # Without this feature: embassy's `BlockingPartition`
///
/// Firmware on embassy already has a lock for a shared flash:
/// `embassy_embedded_hal::flash::partition::BlockingPartition` over an
/// `embassy_sync::blocking_mutex::Mutex<CriticalSectionRawMutex,
/// RefCell<F>>`. A partition is a `NorFlash` of its own, and one that owns
/// nothing but a reference to that mutex, so each of the two partitions
/// goes into a [`FlashRegion`](crate::FlashRegion), which is `Send` as the
/// partition is:
///
/// ```ignore
/// static FLASH: StaticCell<Mutex<CriticalSectionRawMutex, RefCell<Flash>>> = StaticCell::new();
/// let flash = FLASH.init(Mutex::new(RefCell::new(flash)));
/// let a = FlashRegion::whole(BlockingPartition::new(flash, 0x7_0000, 0x8000))?;
/// let b = FlashRegion::whole(BlockingPartition::new(flash, 0x7_8000, 0x8000))?;
/// let store = Store::open(a, b, FixedIndex::<64>::new(), Scratch::<SCRATCH>::new(), CONFIG)?;
/// ```
///
/// Same format and guarantees either way; only who takes the lock differs
/// (embassy-sync's `lock` panics if the flash is already borrowed, where this
/// type answers [`FlashError::Busy`]).
#[cfg(feature = "critical-section")]
#[cfg_attr(docsrs, doc(cfg(feature = "critical-section")))]
pub type MutexFlashRegion<'a, F> =
    crate::medium::flash::SharedFlashRegion<'a, F, critical_section::Mutex<RefCell<F>>>;
