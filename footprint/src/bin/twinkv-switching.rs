//! twinkv, blocking, switching: the blocking row's firmware (same flash,
//! configuration and index) with a workload that runs the double-buffer
//! switch. Open, then [`WRITES`] sets over the 3 keys (8-byte values that
//! change with each write), which fill the 4-KiB regions again and again:
//! writes erase ahead, begin incremental switches, copy in slices and
//! finish them. Then the flash is erased and a store opened on it with the
//! incremental switch off takes [`WHOLE_WRITES`] sets, so that writes fold
//! into whole switches (copy, folded write and commit in one call). Last,
//! the 3 keys are set to their values and read back. Fails unless each
//! phase switched at least [`SWITCHES`] times (the switch counter starts at
//! 0 at each open).

#![no_std]
#![no_main]

use core::cell::RefCell;

use embedded_storage::nor_flash::NorFlash;
use panic_halt as _;
use twinkv_core::{Config, FixedIndex, SharedFlashRegion, Store};
use twinkv_footprint::{counter, key, matches, value, RamFlash, KEYS, TWO_UNITS};

use twinkv_footprint::{TWINKV_CONFIG as CONFIG, TWINKV_SCRATCH as SCRATCH};

/// The second phase's configuration: every switch whole.
const WHOLE: Config = CONFIG.with_incremental_switch(false);
/// Sets with the incremental switch (the default).
const WRITES: u32 = 1000;
/// Sets with whole switches.
const WHOLE_WRITES: u32 = 400;
/// Switches each phase must have run.
const SWITCHES: u32 = 3;

/// One phase: opens the store on `flash` with `config`, sets `n` counter
/// values over the keys and checks that it switched at least [`SWITCHES`]
/// times; the last phase then sets the keys to their values and reads them
/// back. Whether all of it succeeded. Never inlined: the store lives in this
/// frame, like in the blocking row's `work`, and ends with it.
#[inline(never)]
fn phase(
    flash: &RefCell<RamFlash>,
    index: &mut FixedIndex<64>,
    scratch: &mut [u8],
    config: &Config,
    n: u32,
    last: bool,
) -> bool {
    // Each phase begins on erased flash: its open formats, like the blocking
    // row's (an open that reads a log is not what this row measures).
    if NorFlash::erase(&mut *flash.borrow_mut(), 0, TWO_UNITS as u32).is_err() {
        return false;
    }
    let Ok((a, b)) = SharedFlashRegion::halves(flash, 0, TWO_UNITS as u32) else {
        return false;
    };
    let mut slot = None;
    let Ok(store) = Store::open_in(&mut slot, a, b, index, scratch, *config) else {
        return false;
    };
    for i in 0..n {
        if store
            .set(&key(i as usize % KEYS.len()), &counter(i))
            .is_err()
        {
            return false;
        }
    }
    if store.stats().switches < SWITCHES {
        return false;
    }
    if !last {
        return true;
    }
    for i in 0..KEYS.len() {
        if store.set(&key(i), value(i)).is_err() {
            return false;
        }
    }
    let mut buf = [0u8; 32];
    (0..KEYS.len()).all(|i| match store.get(&key(i), &mut buf) {
        Ok(Some(n)) => matches(i, &buf[..n]),
        _ => false,
    })
}

fn work() -> bool {
    let flash = RefCell::new(twinkv_footprint::two_units());
    let mut scratch = [0u8; SCRATCH];
    let mut index = FixedIndex::<64>::new();
    phase(&flash, &mut index, &mut scratch, &CONFIG, WRITES, false)
        && phase(&flash, &mut index, &mut scratch, &WHOLE, WHOLE_WRITES, true)
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("twinkv-switching", work)
}
