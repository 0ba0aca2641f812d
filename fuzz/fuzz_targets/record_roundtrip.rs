//! Record, region header and marker codecs: encode → decode round trips,
//! single-bit damage detected, arbitrary bytes never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkv_fuzz::record::{check, RecordInput};

fuzz_target!(|input: RecordInput| check(&input));
