//! Region images with an arbitrary index checkpoint (FORMAT.md §11): an open
//! that does not take it is exactly an open without it, one that takes it
//! reports no bug, and a checkpoint the store wrote changes nothing an open
//! shows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkv_fuzz::checkpoint::check;
use twinkv_fuzz::image::ImageInput;

fuzz_target!(|input: ImageInput| {
    check(&input);
});
