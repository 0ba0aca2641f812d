//! Operation scripts on a fresh store over two small regions, every result
//! checked against an exact `BTreeMap` model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkv_fuzz::ops::{check_ops, OpsInput};

fuzz_target!(|input: OpsInput| {
    check_ops(&input);
});
