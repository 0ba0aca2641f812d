//! The baseline: the start-up, flash and report of every other row, without
//! a store. Its size is subtracted from theirs.

#![no_std]
#![no_main]

use core::hint::black_box;

use embedded_storage::nor_flash::ReadNorFlash;
use panic_halt as _;

fn work() -> bool {
    let mut flash = twinkv_footprint::two_units();
    let mut byte = [0u8; 1];
    flash.read(black_box(0), &mut byte).is_ok() && black_box(byte) == [0xFF]
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("baseline", work)
}
