//! twinkv, blocking: open on one flash split in two regions of 4 KiB, an
//! index of 64 keys, keys up to 16 B and values up to 32 B; set 3 keys, get
//! them.

#![no_std]
#![no_main]

use core::cell::RefCell;

use panic_halt as _;
use twinkv_core::{FixedIndex, SharedFlashRegion, Store};
use twinkv_footprint::{key, matches, value, KEYS, TWO_UNITS};

use twinkv_footprint::{TWINKV_CONFIG as CONFIG, TWINKV_SCRATCH as SCRATCH};

fn work() -> bool {
    let flash = RefCell::new(twinkv_footprint::two_units());
    let Ok((a, b)) = SharedFlashRegion::halves(&flash, 0, TWO_UNITS as u32) else {
        return false;
    };
    let mut scratch = [0u8; SCRATCH];
    let mut index = FixedIndex::<64>::new();
    // Opened in a place of this frame: `Store::open` returns the store by
    // value, which the compiler may keep twice here (README, "Footprint").
    let mut slot = None;
    let Ok(store) = Store::open_in(&mut slot, a, b, &mut index, &mut scratch[..], CONFIG) else {
        return false;
    };
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

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("twinkv", work)
}
