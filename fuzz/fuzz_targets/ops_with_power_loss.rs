//! Operation scripts with power cuts (one supply for both regions, double
//! and triple cuts): after each reboot every acknowledged write is there,
//! the operation in flight is all or nothing, nothing else changed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkv_fuzz::ops::{check_power, PowerInput};

fuzz_target!(|input: PowerInput| {
    check_power(&input);
});
