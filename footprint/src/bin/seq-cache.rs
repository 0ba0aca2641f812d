//! sequential-storage with page states, page pointers and a 64-key pointer
//! cache: open, set 3 keys, get them.

#![no_std]
#![no_main]

use panic_halt as _;
use sequential_storage::cache::{
    key_pointers::ArrayKeyPointers, page_pointers::ArrayPagePointers, page_states::ArrayPageStates,
    Cache,
};

fn work() -> bool {
    twinkv_footprint::sequential_storage(Cache::new(
        ArrayPageStates::<2>::new(),
        ArrayPagePointers::<2>::new(),
        ArrayKeyPointers::<[u8; 6], 64>::new(),
    ))
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("sequential-storage, 64-key cache", work)
}
