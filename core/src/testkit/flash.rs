//! Stores on [`SimFlash`] through the embedded-storage adapter, for every
//! write unit: the regions the `flash_*` tests and the flash families of the
//! shared scenarios run on.

use core::cell::RefCell;
use std::vec;
use std::vec::Vec;

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
    let ra = SharedFlashRegion::whole(a).expect("whole flash A");
    let rb = SharedFlashRegion::whole(b).expect("whole flash B");
    let (ra, rb) = (
        ra.with_unreadable(SimError::is_ecc),
        rb.with_unreadable(SimError::is_ecc),
    );
    let scratch = vec![0; FlashStore::<W>::scratch_len(&cfg, W as u32)];
    Store::open(ra, rb, FixedIndex::new(), scratch, cfg)
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
