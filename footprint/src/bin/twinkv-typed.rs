//! twinkv, typed values (feature `serde`): the blocking row's store, each of
//! the 3 values set and read back as a `#[derive(Serialize, Deserialize)]`
//! struct through `set_as` / `get_as` (postcard, no allocator) instead of
//! as bytes.

#![no_std]
#![no_main]

use core::cell::RefCell;

use panic_halt as _;
use serde::{Deserialize, Serialize};
use twinkv_core::{FixedIndex, SharedFlashRegion, Store};
use twinkv_footprint::{key, value, KEYS, TWO_UNITS, VALUES};

/// A setting: its slot and its text (borrowed from the read buffer when
/// decoded). Postcard: 1 + 1 + up to 10 bytes.
#[derive(Serialize, Deserialize, PartialEq)]
struct Setting<'a> {
    slot: u8,
    text: &'a [u8],
}

use twinkv_footprint::{TWINKV_CONFIG as CONFIG, TWINKV_SCRATCH as SCRATCH};

fn work() -> bool {
    let flash = RefCell::new(twinkv_footprint::two_units());
    let Ok((a, b)) = SharedFlashRegion::halves(&flash, 0, TWO_UNITS as u32) else {
        return false;
    };
    let mut scratch = [0u8; SCRATCH];
    let mut index = FixedIndex::<64>::new();
    // Opened in a place of this frame, as in the blocking row.
    let mut slot = None;
    let Ok(store) = Store::open_in(&mut slot, a, b, &mut index, &mut scratch[..], CONFIG) else {
        return false;
    };
    let mut buf = [0u8; 32];
    for i in 0..KEYS.len() {
        let setting = Setting {
            slot: i as u8,
            text: value(i),
        };
        if store.set_as(&key(i), &setting, &mut buf).is_err() {
            return false;
        }
    }
    (0..KEYS.len()).all(|i| match store.get_as::<Setting>(&key(i), &mut buf) {
        Ok(Some(got)) => core::hint::black_box(&got).slot == i as u8 && got.text == VALUES[i],
        _ => false,
    })
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("twinkv, typed", work)
}
