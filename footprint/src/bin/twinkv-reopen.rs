//! twinkv, blocking, reboot: the blocking row's firmware (same flash,
//! configuration and index) where the last open reads a log, as every boot
//! after the first does. A first store formats the erased flash and takes
//! [`WRITES`] sets over the 3 keys (8-byte values that change with each
//! write: the log holds overwrites, and the store switches, so the log
//! begins with a switch's copy); it is dropped. A second store opens the
//! same flash: the replay walks that log and rebuilds the index. It then
//! sets the 3 keys to their values and reads them back. Fails unless the
//! first store switched at least [`SWITCHES`] times and the second reads
//! the first's last values.

#![no_std]
#![no_main]

use core::cell::RefCell;

use panic_halt as _;
use twinkv_core::{FixedIndex, SharedFlashRegion, Store};
use twinkv_footprint::{counter, key, matches, value, RamFlash, KEYS, TWO_UNITS};

use twinkv_footprint::{TWINKV_CONFIG as CONFIG, TWINKV_SCRATCH as SCRATCH};

/// Sets before the reboot.
const WRITES: u32 = 600;
/// Switches the first store must have run.
const SWITCHES: u32 = 2;

/// Opens a store on `flash`; with `fill`, takes [`WRITES`] sets and checks
/// that it switched, else checks that the first store's last values read
/// back, sets the keys to their values and reads them. Never inlined: the
/// store lives in this frame and ends with it (the drop is the reboot).
#[inline(never)]
fn boot(
    flash: &RefCell<RamFlash>,
    index: &mut FixedIndex<64>,
    scratch: &mut [u8],
    fill: bool,
) -> bool {
    let Ok((a, b)) = SharedFlashRegion::halves(flash, 0, TWO_UNITS as u32) else {
        return false;
    };
    let mut slot = None;
    let Ok(store) = Store::open_in(&mut slot, a, b, index, scratch, CONFIG) else {
        return false;
    };
    let mut buf = [0u8; 32];
    if fill {
        for i in 0..WRITES {
            if store
                .set(&key(i as usize % KEYS.len()), &counter(i))
                .is_err()
            {
                return false;
            }
        }
        return store.stats().switches >= SWITCHES;
    }
    for i in WRITES - KEYS.len() as u32..WRITES {
        let k = key(i as usize % KEYS.len());
        if !matches!(store.get(&k, &mut buf), Ok(Some(8)) if buf[..8] == counter(i)) {
            return false;
        }
    }
    for i in 0..KEYS.len() {
        if store.set(&key(i), value(i)).is_err() {
            return false;
        }
    }
    (0..KEYS.len()).all(|i| match store.get(&key(i), &mut buf) {
        Ok(Some(n)) => matches(i, &buf[..n]),
        _ => false,
    })
}

fn work() -> bool {
    let flash = RefCell::new(twinkv_footprint::two_units());
    let mut scratch = [0u8; SCRATCH];
    let mut index = FixedIndex::<64>::new();
    boot(&flash, &mut index, &mut scratch, true) && boot(&flash, &mut index, &mut scratch, false)
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("twinkv-reopen", work)
}
