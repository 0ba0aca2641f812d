//! A log that holds an atomic batch, opened by a build without core's
//! `batch` feature (this crate leaves core's default features off, as a
//! firmware that writes one key at a time may): the committed format fixture
//! `v1-ram-batch` (`core/tests/fixtures/`, written by `Store::apply` between
//! plain writes) must answer what its manifest says, take a set, and answer
//! the same after a reopen. Exits with success only if all of it checks out.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};

/// The fixture's regions A and B, and what `v1.manifest` says of them.
const IMAGE_A: &[u8; 1024] = include_bytes!("../../../core/tests/fixtures/v1-ram-batch.a");
const IMAGE_B: &[u8; 1024] = include_bytes!("../../../core/tests/fixtures/v1-ram-batch.b");
const GEOMETRY: Geometry = Geometry {
    size: 1024,
    read_unit: 1,
    write_unit: 4,
    erase_unit: 256,
};
const CONFIG: Config = Config::new(0x7477_4b56_f1c5_0003)
    .with_limits(32, 64)
    .with_ratios(8000, 9000);
/// `value K = V`, or `absent K` for `None`.
const ANSWERS: [(&[u8], Option<&[u8]>); 4] = [
    (b"after", Some(b"batch")),
    (b"fan", Some(b"2")),
    (b"light", None),
    (b"mode", Some(b"eco")),
];
const STORAGE: usize = RamRegion::<&'static mut [u8]>::storage_len_for(&GEOMETRY);

type Region = RamRegion<&'static mut [u8]>;
type Kv<'s> = Store<Region, FixedIndex<16>, &'s mut [u8]>;
const SCRATCH: usize = Kv::<'static>::scratch_len(&CONFIG, 4);

/// A region holding `image`, persisting in order (the fixture's medium).
fn region(storage: &'static mut [u8], image: &[u8]) -> Option<Region> {
    storage.get_mut(..image.len())?.copy_from_slice(image);
    let mut r = RamRegion::with_contents(storage, GEOMETRY).ok()?;
    r.set_in_order(true);
    Some(r)
}

/// Whether every key answers as listed (and `extra`, if given, too).
fn answers_hold(s: &mut Kv<'_>, extra: Option<(&[u8], &[u8])>) -> bool {
    let mut buf = [0u8; 64];
    let mut check = |key: &[u8], want: Option<&[u8]>| match (s.get(key, &mut buf), want) {
        (Ok(Some(n)), Some(v)) => buf.get(..n) == Some(v),
        (Ok(None), None) => true,
        (got, _) => {
            hprintln!("{:?}: {:?}", core::str::from_utf8(key), got.map(|_| ()));
            false
        }
    };
    ANSWERS.iter().all(|&(k, v)| check(k, v)) && extra.is_none_or(|(k, v)| check(k, Some(v)))
}

fn run() -> Option<&'static str> {
    let a = cortex_m::singleton!(: [u8; STORAGE] = [0; STORAGE])?;
    let b = cortex_m::singleton!(: [u8; STORAGE] = [0; STORAGE])?;
    let scratch = cortex_m::singleton!(: [u8; SCRATCH] = [0; SCRATCH])?;
    let (a, b) = (region(a, IMAGE_A)?, region(b, IMAGE_B)?);

    let Ok(mut s) = Store::open(a, b, FixedIndex::<16>::new(), &mut scratch[..], CONFIG) else {
        return Some("open of the fixture");
    };
    if !answers_hold(&mut s, None) {
        return Some("the fixture's answers");
    }
    if s.set(b"probe", b"no batch feature").is_err() {
        return Some("a set after the batch");
    }
    let (a, b, _, scratch) = s.into_parts();
    let Ok(mut s) = Store::open(a, b, FixedIndex::<16>::new(), scratch, CONFIG) else {
        return Some("the reopen");
    };
    if !answers_hold(&mut s, Some((b"probe", b"no batch feature"))) {
        return Some("the answers after a set and a reopen");
    }
    None
}

#[entry]
fn main() -> ! {
    match run() {
        None => {
            hprintln!("batch-fixture: a log with a batch, opened without the batch feature: ok");
            debug::exit(debug::EXIT_SUCCESS);
        }
        Some(what) => {
            hprintln!("batch-fixture: FAILED at {}", what);
            debug::exit(debug::EXIT_FAILURE);
        }
    }
    #[allow(clippy::empty_loop)]
    loop {}
}
