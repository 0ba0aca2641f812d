//! Footprint build: open a store, set, get, with an index of 64 keys, on a
//! bare RAM NOR flash (what a HAL flash driver would be on a device). Prints
//! the result and the peak stack over semihosting.

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use twinkv_core::{Config, FixedIndex, SharedFlashRegion, Store};
use twinkv_firmware::{stack, RamFlash};

type Flash = RamFlash<'static, 4, 256>;
const FLASH_LEN: usize = 2048;
const CONFIG: Config = Config::new(0x5EED).with_limits(16, 32);
type Kv<'i, 's> = Store<SharedFlashRegion<'static, Flash>, &'i mut FixedIndex<64>, &'s mut [u8]>;
const SCRATCH: usize = Kv::<'static, 'static>::scratch_len(&CONFIG, 4);

#[inline(never)]
fn run(flash: &RefCell<Flash>) -> bool {
    let Ok((a, b)) = SharedFlashRegion::halves(flash, 0, FLASH_LEN as u32) else {
        return false;
    };
    let mut scratch = [0u8; SCRATCH];
    // Lent, as the scratch buffer is: the store value stays small, and
    // the compiler's copies of it with it.
    let mut index = FixedIndex::<64>::new();
    // Opened in a place of this frame (`Store::open` returns the store by
    // value, which the compiler may keep twice here).
    let mut slot = None;
    let Ok(store) = Store::open_in(&mut slot, a, b, &mut index, &mut scratch[..], CONFIG) else {
        return false;
    };
    if store.set(b"volume", b"7").is_err() {
        return false;
    }
    let mut buf = [0u8; 32];
    matches!(store.get(b"volume", &mut buf), Ok(Some(1))) && buf[0] == b'7'
}

#[entry]
fn main() -> ! {
    let Some(storage) = cortex_m::singleton!(: [u8; FLASH_LEN] = [0; FLASH_LEN]) else {
        debug::exit(debug::EXIT_FAILURE);
        #[allow(clippy::empty_loop)]
        loop {}
    };
    stack::paint();
    let flash = RefCell::new(Flash::erased(storage));
    let ok = run(&flash);
    let peak = stack::peak();
    hprintln!(
        "minimal: open, set, get {}; peak stack {} B (of which the Store object {} B, its index {} B, scratch {} B)",
        if ok { "ok" } else { "FAILED" },
        peak,
        core::mem::size_of::<Kv<'static, 'static>>(),
        core::mem::size_of::<FixedIndex<64>>(),
        SCRATCH
    );
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}
