//! twinkv, async front end (feature `async`): the blocking row's workload
//! and configuration on the same RAM flash, seen through its async
//! `NorFlash` (two `AsyncFlashRegion`s over one flash shared through a
//! `RefCell`, as `SharedFlashRegion::halves` does for the blocking row),
//! driven by `embassy_futures::block_on` (a poll loop with a no-op waker,
//! the executor the peers' rows use): open, set 3 keys, get them.

#![no_std]
#![no_main]

use core::cell::RefCell;

use panic_halt as _;
use twinkv_core::{AsyncFlashRegion, AsyncStore, FixedIndex};
use twinkv_footprint::{key, matches, value, SharedAsync, ERASE, KEYS};

use twinkv_footprint::{TWINKV_CONFIG as CONFIG, TWINKV_SCRATCH as SCRATCH};

fn work() -> bool {
    let flash = RefCell::new(twinkv_footprint::two_units());
    let halves = (
        AsyncFlashRegion::new(SharedAsync(&flash), 0, ERASE as u32),
        AsyncFlashRegion::new(SharedAsync(&flash), ERASE as u32, ERASE as u32),
    );
    let (Ok(a), Ok(b)) = halves else {
        return false;
    };
    let mut scratch = [0u8; SCRATCH];
    let mut index = FixedIndex::<64>::new();
    embassy_futures::block_on(async {
        // Opened in a place the future holds, as in the blocking row.
        let mut slot = None;
        let opened = AsyncStore::open_in(&mut slot, a, b, &mut index, &mut scratch[..], CONFIG);
        let Ok(store) = opened.await else {
            return false;
        };
        for i in 0..KEYS.len() {
            if store.set(&key(i), value(i)).await.is_err() {
                return false;
            }
        }
        let mut buf = [0u8; 32];
        for i in 0..KEYS.len() {
            match store.get(&key(i), &mut buf).await {
                Ok(Some(n)) if matches(i, &buf[..n]) => {}
                _ => return false,
            }
        }
        true
    })
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("twinkv, async", work)
}
