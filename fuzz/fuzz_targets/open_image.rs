//! Arbitrary bytes as both regions' contents: open (read-only and read-write)
//! never panics nor hangs, refuses without writing, and an opened store reads,
//! writes, compacts and reopens consistently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkv_fuzz::image::{check, ImageInput};

fuzz_target!(|input: ImageInput| {
    check(&input);
});
