//! The store types a firmware spells, one alias per common case: RAM
//! regions, one flash split in two (`RefCell`), the same behind a
//! `critical_section::Mutex` (`Send`). Each fixes the index to
//! [`FixedIndex`] and the scratch buffer to a [`Scratch`] sized at compile
//! time.

#[cfg(feature = "embedded-storage")]
use crate::{Config, SharedFlashRegion};
use crate::{FixedIndex, RamRegion, Scratch, Store};
#[cfg(feature = "embedded-storage")]
use embedded_storage::nor_flash::NorFlash;

/// A store on two [`RamRegion`]s over borrowed bytes, with an index of
/// `KEYS` entries and a scratch buffer of `SCRATCH` bytes
/// ([`Config::scratch_len`](crate::Config::scratch_len)).
///
/// ```
/// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, RamStore, Scratch, Store};
///
/// const CONFIG: Config = Config::new(0x5EED).with_limits(16, 64);
/// const GEO: Geometry = Geometry { size: 2048, read_unit: 1, write_unit: 4, erase_unit: 256 };
/// type Kv<'m> = RamStore<'m, 32, { CONFIG.scratch_len(GEO.write_unit) }>;
///
/// let len = RamRegion::<&mut [u8]>::storage_len_for(&GEO);
/// let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
/// let ra = RamRegion::new(&mut a[..], GEO).unwrap();
/// let rb = RamRegion::new(&mut b[..], GEO).unwrap();
/// let mut kv: Kv<'_> = Store::open(ra, rb, FixedIndex::new(), Scratch::new(), CONFIG).unwrap();
/// kv.set(b"mode", b"eco").unwrap();
/// assert!(kv.contains_key(b"mode").unwrap());
/// ```
pub type RamStore<'m, const KEYS: usize, const SCRATCH: usize> =
    Store<RamRegion<&'m mut [u8]>, FixedIndex<KEYS>, Scratch<SCRATCH>>;

/// Scratch bytes a store of `config` needs on flash type `F`:
/// [`Config::scratch_len`] at `F::WRITE_SIZE`, so the write unit cannot be
/// given wrong. `const`, for the `SCRATCH` parameter of [`FlashStore`].
///
/// ```
/// # #[cfg(feature = "flash-sim")] {
/// use twinkv_core::{flash_scratch_len, Config, SimFlash};
/// type Flash = SimFlash<&'static mut [u8], 8, 4096>;
/// const CONFIG: Config = Config::new(0x5EED).with_limits(32, 256);
/// assert_eq!(flash_scratch_len::<Flash>(&CONFIG), CONFIG.scratch_len(8));
/// # }
/// ```
#[cfg(feature = "embedded-storage")]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub const fn flash_scratch_len<F: NorFlash>(config: &Config) -> usize {
    config.scratch_len(crate::flash_geometry::<F>(0).write_unit)
}

/// A store on one flash split in two regions ([`SharedFlashRegion`] over a
/// `RefCell`, for one execution context), with an index of `KEYS` entries and
/// a scratch buffer of `SCRATCH` bytes ([`flash_scratch_len`]). The type a
/// firmware spells for "one flash, two halves":
///
/// ```
/// # #[cfg(feature = "flash-sim")] {
/// use core::cell::RefCell;
/// use twinkv_core::{
///     flash_scratch_len, Config, FixedIndex, FlashStore, Scratch, SharedFlashRegion, SimFlash,
///     Store,
/// };
///
/// type Flash = SimFlash<Vec<u8>, 4, 256>; // on a device: the HAL's flash type
/// const CONFIG: Config = Config::new(0x5EED).with_limits(16, 64);
/// type Kv<'f> = FlashStore<'f, Flash, 64, { flash_scratch_len::<Flash>(&CONFIG) }>;
///
/// let flash = RefCell::new(Flash::new(vec![0; Flash::storage_len(4096)], 4096).unwrap());
/// let (a, b) = SharedFlashRegion::halves(&flash, 0, 4096).unwrap();
/// let mut kv: Kv<'_> = Store::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG).unwrap();
/// kv.set(b"volume", b"7").unwrap();
/// let mut buf = [0u8; 64];
/// assert_eq!(kv.get(b"volume", &mut buf).unwrap(), Some(1));
/// # }
/// ```
///
/// The scratch buffer and the index live inside the store value; to keep
/// them out of the stack, put the store in a `static` (e.g. a `StaticCell`).
/// A store that lives on the stack is smaller with both lent:
/// `Store<SharedFlashRegion<'f, F>, &mut FixedIndex<64>, &mut [u8]>`, opened
/// with `Store::open(a, b, &mut index, &mut scratch[..], CONFIG)` (the
/// compiler may keep more than one copy of the returned store in the
/// caller's frame: in the project's minimal firmware lending the index
/// takes 1 KiB off the peak stack).
#[cfg(feature = "embedded-storage")]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-storage")))]
pub type FlashStore<'f, F, const KEYS: usize, const SCRATCH: usize> =
    Store<SharedFlashRegion<'f, F>, FixedIndex<KEYS>, Scratch<SCRATCH>>;

/// [`FlashStore`] over a flash in a `critical_section::Mutex<RefCell<F>>`
/// ([`MutexFlashRegion`](crate::MutexFlashRegion)): `Send` when `F` is, so
/// it can be an RTIC resource or move into another task.
///
/// ```
/// # #[cfg(feature = "flash-sim")] {
/// use core::cell::RefCell;
/// use critical_section::Mutex;
/// use twinkv_core::{
///     flash_scratch_len, Config, FixedIndex, MutexFlashRegion, MutexFlashStore, Scratch,
///     SimFlash, Store,
/// };
///
/// type Flash = SimFlash<Vec<u8>, 4, 256>;
/// const CONFIG: Config = Config::new(0x5EED).with_limits(16, 64);
/// type Kv<'f> = MutexFlashStore<'f, Flash, 64, { flash_scratch_len::<Flash>(&CONFIG) }>;
///
/// let flash = Mutex::new(RefCell::new(
///     Flash::new(vec![0; Flash::storage_len(4096)], 4096).unwrap(),
/// ));
/// let (a, b) = MutexFlashRegion::halves(&flash, 0, 4096).unwrap();
/// let kv: Kv<'_> = Store::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG).unwrap();
/// fn needs_send<T: Send>(_: &T) {}
/// needs_send(&kv);
/// # }
/// ```
#[cfg(feature = "critical-section")]
#[cfg_attr(docsrs, doc(cfg(feature = "critical-section")))]
pub type MutexFlashStore<'f, F, const KEYS: usize, const SCRATCH: usize> =
    Store<crate::MutexFlashRegion<'f, F>, FixedIndex<KEYS>, Scratch<SCRATCH>>;

/// [`flash_geometry`](crate::flash_geometry) for an async flash
/// (`embedded_storage_async::nor_flash::NorFlash`): the [`Geometry`](crate::Geometry) of a
/// region of `size` bytes, `const`, so a firmware checks its configuration
/// with [`Config::fits`] at compile time.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub const fn async_flash_geometry<F: embedded_storage_async::nor_flash::NorFlash>(
    size: u32,
) -> crate::Geometry {
    // The sizes are tiny constants of the flash type (a NOR flash's units).
    crate::Geometry {
        size,
        read_unit: F::READ_SIZE as u32,
        write_unit: F::WRITE_SIZE as u32,
        erase_unit: F::ERASE_SIZE as u32,
    }
}

/// [`flash_scratch_len`] for an async flash: [`Config::scratch_len`] at
/// `F::WRITE_SIZE`, for the `SCRATCH` parameter of [`AsyncFlashStore`].
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub const fn async_flash_scratch_len<F: embedded_storage_async::nor_flash::NorFlash>(
    config: &Config,
) -> usize {
    config.scratch_len(async_flash_geometry::<F>(0).write_unit)
}

/// The async store over two regions of async flash ([`AsyncFlashRegion`],
/// e.g. over two embassy-embedded-hal `Partition`s of one flash), with an
/// index of `KEYS` entries and a scratch buffer of `SCRATCH` bytes
/// ([`async_flash_scratch_len`]).
///
/// [`AsyncFlashRegion`]: crate::AsyncFlashRegion
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub type AsyncFlashStore<F, const KEYS: usize, const SCRATCH: usize> =
    crate::AsyncStore<crate::AsyncFlashRegion<F>, FixedIndex<KEYS>, Scratch<SCRATCH>>;
