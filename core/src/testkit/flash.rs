//! Stores on [`SimFlash`] through the embedded-storage adapter, for every
//! write unit: the regions the `flash_*` tests and the flash families of the
//! shared scenarios run on.

use core::cell::RefCell;
use std::vec;
use std::vec::Vec;

#[cfg(feature = "async")]
use super::asynch::{block_on, boxed, Blocked, DynStore, Front, SplitFlash};
#[cfg(feature = "async")]
use crate::{AsyncFlashRegion, AsyncStore};

use crate::{Config, Error, FixedIndex, FlashError, SharedFlashRegion, SimError, SimFlash, Store};

/// Erase unit of the small test flashes.
pub const E: usize = 256;

/// A simulated flash with write unit `W`, erase unit [`E`], read unit 1.
pub type Sim<const W: usize> = SimFlash<Vec<u8>, W, E>;
/// A region of a shared [`Sim`].
pub type FRegion<'a, const W: usize> = SharedFlashRegion<'a, Sim<W>>;
/// A store on two [`FRegion`]s.
pub type FlashStore<'a, const W: usize> = Store<FRegion<'a, W>, FixedIndex<32>, Vec<u8>>;
/// The error of a [`FlashStore`].
pub type StoreError = Error<FlashError<SimError>>;

/// A fresh (erased) flash of `size` bytes.
pub fn sim<const W: usize>(size: u32) -> Sim<W> {
    Sim::<W>::new(vec![0; Sim::<W>::storage_len(size)], size).expect("valid flash size")
}

/// The configuration of the `flash_*` tests.
pub fn config() -> Config {
    Config::new(0xF1A5_F1A5)
        .with_limits(16, 32)
        .with_ratios(8000, 9000)
}

/// A store on a flash split in halves. Its regions take [`SimError::Ecc`]
/// as unreadable data (the flash's ECC mode), as every store of the kit does.
pub fn open<'a, const W: usize>(
    flash: &'a RefCell<Sim<W>>,
    cfg: Config,
) -> Result<FlashStore<'a, W>, StoreError> {
    let size = flash.borrow().as_bytes().len() as u32;
    let (a, b) = SharedFlashRegion::halves(flash, 0, size).expect("flash splits in halves");
    let (a, b) = (
        a.with_unreadable(SimError::is_ecc),
        b.with_unreadable(SimError::is_ecc),
    );
    let scratch = vec![0; FlashStore::<W>::scratch_len(&cfg, W as u32)];
    Store::open(a, b, FixedIndex::new(), scratch, cfg)
}

/// A store on two separate flashes.
pub fn open_two<'a, const W: usize>(
    a: &'a RefCell<Sim<W>>,
    b: &'a RefCell<Sim<W>>,
    cfg: Config,
) -> Result<FlashStore<'a, W>, StoreError> {
    let (ra, rb) = whole_regions(a, b);
    let scratch = vec![0; FlashStore::<W>::scratch_len(&cfg, W as u32)];
    Store::open(ra, rb, FixedIndex::new(), scratch, cfg)
}

/// Each flash whole as a region that takes [`SimError::Ecc`] as unreadable.
fn whole_regions<'a, const W: usize>(
    a: &'a RefCell<Sim<W>>,
    b: &'a RefCell<Sim<W>>,
) -> (FRegion<'a, W>, FRegion<'a, W>) {
    let whole = |f| {
        SharedFlashRegion::whole(f)
            .expect("whole flash")
            .with_unreadable(SimError::is_ecc)
    };
    (whole(a), whole(b))
}

/// A blocking NOR flash shared through a `RefCell`, borrowed for each call:
/// two regions on one flash for [`AsyncFlashRegion`]
/// (through [`SplitFlash`]), which owns its flash.
#[cfg(feature = "async")]
#[derive(Debug)]
pub struct CellFlash<'a, F>(pub &'a RefCell<F>);

#[cfg(feature = "async")]
mod cell {
    use super::CellFlash;
    use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

    impl<F: ErrorType> ErrorType for CellFlash<'_, F> {
        type Error = F::Error;
    }
    impl<F: ReadNorFlash> ReadNorFlash for CellFlash<'_, F> {
        const READ_SIZE: usize = F::READ_SIZE;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), F::Error> {
            self.0.borrow_mut().read(offset, bytes)
        }
        fn capacity(&self) -> usize {
            self.0.borrow().capacity()
        }
    }
    impl<F: NorFlash> NorFlash for CellFlash<'_, F> {
        const WRITE_SIZE: usize = F::WRITE_SIZE;
        const ERASE_SIZE: usize = F::ERASE_SIZE;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), F::Error> {
            self.0.borrow_mut().erase(from, to)
        }
        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), F::Error> {
            self.0.borrow_mut().write(offset, bytes)
        }
    }
}

/// A region of a shared [`Sim`] for the async store: blocking reads, async
/// writes and erases ([`SplitFlash`], nrf-softdevice's shape).
#[cfg(feature = "async")]
pub type AsyncFRegion<'a, const W: usize> = AsyncFlashRegion<SplitFlash<CellFlash<'a, Sim<W>>>>;
/// The async store on two [`AsyncFRegion`]s, driven call by call.
#[cfg(feature = "async")]
pub type AsyncSimStore<'a, const W: usize> = Blocked<AsyncFRegion<'a, W>, FixedIndex<32>, Vec<u8>>;

/// `offset .. offset + size` of `flash` as an [`AsyncFRegion`] that takes
/// [`SimError::Ecc`] as unreadable data, like [`open`]'s regions.
#[cfg(feature = "async")]
fn async_region<const W: usize>(
    flash: &RefCell<Sim<W>>,
    offset: u32,
    size: u32,
) -> AsyncFRegion<'_, W> {
    AsyncFlashRegion::new(SplitFlash(CellFlash(flash)), offset, size)
        .expect("region fits the flash")
        .with_unreadable(SimError::is_ecc)
}

/// [`open`] through the async store: the flash split in halves, each an
/// [`AsyncFRegion`].
#[cfg(feature = "async")]
pub fn open_async<'a, const W: usize>(
    flash: &'a RefCell<Sim<W>>,
    cfg: Config,
) -> Result<AsyncSimStore<'a, W>, StoreError> {
    let half = flash.borrow().as_bytes().len() as u32 / 2;
    let (a, b) = (
        async_region(flash, 0, half),
        async_region(flash, half, half),
    );
    let scratch = vec![0; FlashStore::<W>::scratch_len(&cfg, W as u32)];
    block_on(AsyncStore::open(a, b, FixedIndex::new(), scratch, cfg)).map(Blocked)
}

/// [`open`] or [`open_async`], by `front`.
#[cfg(feature = "async")]
pub fn open_as<'a, const W: usize>(
    front: Front,
    flash: &'a RefCell<Sim<W>>,
    cfg: Config,
) -> Result<DynStore<'a, FlashError<SimError>>, StoreError> {
    match front {
        Front::Blocking => open::<W>(flash, cfg).map(boxed),
        Front::Async => open_async::<W>(flash, cfg).map(boxed),
    }
}

/// [`open_two`] through `front` (the async store on an [`AsyncFRegion`]
/// per flash), read-only (`Store::open_read_only`) if `read_only`.
#[cfg(feature = "async")]
pub fn open_two_as<'a, const W: usize>(
    front: Front,
    read_only: bool,
    a: &'a RefCell<Sim<W>>,
    b: &'a RefCell<Sim<W>>,
    cfg: Config,
) -> Result<DynStore<'a, FlashError<SimError>>, StoreError> {
    let scratch = vec![0; FlashStore::<W>::scratch_len(&cfg, W as u32)];
    let index = FixedIndex::<32>::new();
    match front {
        Front::Blocking => {
            let (ra, rb) = whole_regions(a, b);
            if read_only {
                Store::open_read_only(ra, rb, index, scratch, cfg).map(boxed)
            } else {
                Store::open(ra, rb, index, scratch, cfg).map(boxed)
            }
        }
        Front::Async => {
            let size = |f: &RefCell<Sim<W>>| f.borrow().as_bytes().len() as u32;
            let (ra, rb) = (async_region(a, 0, size(a)), async_region(b, 0, size(b)));
            block_on(async {
                if read_only {
                    AsyncStore::open_read_only(ra, rb, index, scratch, cfg).await
                } else {
                    AsyncStore::open(ra, rb, index, scratch, cfg).await
                }
            })
            .map(|s| boxed(Blocked(s)))
        }
    }
}

/// Runs `f` with each const write unit (1, 2, 4, 8, 16, 32) as a type-level
/// value; evaluates to the six results in that order.
#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_for_each_write_unit {
    ($f:ident ( $($arg:expr),* )) => {
        [
            $f::<1>($($arg),*),
            $f::<2>($($arg),*),
            $f::<4>($($arg),*),
            $f::<8>($($arg),*),
            $f::<16>($($arg),*),
            $f::<32>($($arg),*),
        ]
    };
}
pub use __testkit_for_each_write_unit as for_each_write_unit;
