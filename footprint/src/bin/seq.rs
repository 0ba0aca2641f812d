//! sequential-storage without a cache: open, set 3 keys, get them.

#![no_std]
#![no_main]

use panic_halt as _;
use sequential_storage::cache::Cache;

fn work() -> bool {
    twinkv_footprint::sequential_storage(Cache::new_uncached())
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("sequential-storage", work)
}
