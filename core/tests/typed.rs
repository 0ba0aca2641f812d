//! Typed values (feature `serde`): `Store::get_as` / `Store::set_as` store
//! exactly postcard's bytes (the host store's format for typed values; the
//! host's tests/typed_core.rs reads them across), borrow from the caller's
//! buffer, and map every failure to one of core's errors without writing.

use serde::ser::{Serialize, Serializer};
use serde::Deserialize;
use twinkv_core::{Config, Error, FixedIndex, Geometry, RamError, RamRegion, Scratch, Store};

#[derive(serde::Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
struct Calibration {
    offset: i16,
    gain: f32,
}

const CONFIG: Config = Config::new(0x5EED).with_limits(16, 24);
const GEO: Geometry = Geometry {
    size: 2048,
    read_unit: 1,
    write_unit: 4,
    erase_unit: 256,
};
type Kv = Store<RamRegion<Vec<u8>>, FixedIndex<16>, Scratch<{ CONFIG.scratch_len(4) }>>;

fn regions(a: Vec<u8>, b: Vec<u8>) -> (RamRegion<Vec<u8>>, RamRegion<Vec<u8>>) {
    let ra = RamRegion::with_contents(a, GEO).unwrap();
    let rb = RamRegion::with_contents(b, GEO).unwrap();
    (ra, rb)
}

fn fresh() -> Kv {
    let len = RamRegion::<Vec<u8>>::storage_len_for(&GEO);
    let (a, b) = regions(vec![0xFF; len], vec![0xFF; len]);
    Store::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG).unwrap()
}

fn reopen(kv: Kv) -> Kv {
    let (a, b, index, scratch) = kv.into_parts();
    let (a, b) = regions(a.into_inner(), b.into_inner());
    Store::open(a, b, index, scratch, CONFIG).unwrap()
}

#[test]
fn stored_bytes_are_postcards_and_survive_reopen() {
    let mut kv = fresh();
    let mut buf = [0u8; 24];
    let cal = Calibration {
        offset: -3,
        gain: 1.5,
    };
    kv.set_as(b"cal", &cal, &mut buf).unwrap();
    kv.set_as(b"name", "kitchen", &mut buf).unwrap();
    kv.set_as(b"boots", &300u32, &mut buf).unwrap();
    let mut raw = [0u8; 24];
    // postcard: i16 -3 zigzag varint 0x05, f32 1.5 little-endian; a string
    // is a varint length and its bytes; u32 300 is the varint AC 02.
    let n = kv.get(b"cal", &mut raw).unwrap().unwrap();
    assert_eq!(&raw[..n], &[0x05, 0x00, 0x00, 0xC0, 0x3F]);
    let n = kv.get(b"name", &mut raw).unwrap().unwrap();
    assert_eq!(&raw[..n], b"\x07kitchen");
    let n = kv.get(b"boots", &mut raw).unwrap().unwrap();
    assert_eq!(&raw[..n], &[0xAC, 0x02]);

    let mut kv = reopen(kv);
    assert_eq!(kv.get_as(b"cal", &mut buf), Ok(Some(cal)));
    assert_eq!(kv.get_as::<&str>(b"name", &mut buf), Ok(Some("kitchen")));
    assert_eq!(kv.get_as::<u32>(b"boots", &mut buf), Ok(Some(300)));
    assert_eq!(kv.get_as::<u32>(b"absent", &mut buf), Ok(None));
}

#[test]
fn bytes_that_are_not_the_type_are_encoding() {
    let mut kv = fresh();
    let mut buf = [0u8; 24];
    kv.set(b"flag", &[7]).unwrap();
    kv.set(b"empty", b"").unwrap();
    assert_eq!(kv.get_as::<bool>(b"flag", &mut buf), Err(Error::Encoding));
    assert_eq!(kv.get_as::<u32>(b"empty", &mut buf), Err(Error::Encoding));
    assert_eq!(kv.get_as::<u8>(b"flag", &mut buf), Ok(Some(7)));
}

#[test]
fn small_buffers_name_the_length_and_write_nothing() {
    let mut kv = fresh();
    let before = kv.stats();
    let mut small = [0u8; 4];
    assert_eq!(
        kv.set_as(b"name", "kitchen", &mut small),
        Err(Error::<RamError>::BufferTooSmall(8))
    );
    assert_eq!(kv.stats(), before, "a refused set_as wrote");
    let mut buf = [0u8; 24];
    kv.set_as(b"name", "kitchen", &mut buf).unwrap();
    assert_eq!(
        kv.get_as::<&str>(b"name", &mut small),
        Err(Error::BufferTooSmall(8))
    );
}

#[test]
fn over_the_value_limit_is_value_too_large() {
    let mut kv = fresh();
    let before = kv.stats();
    let mut buf = [0u8; 64];
    // 25 bytes of string: 26 encoded, over the limit of 24.
    let long = "abcdefghijklmnopqrstuvwxy";
    assert_eq!(
        kv.set_as(b"long", long, &mut buf),
        Err(Error::ValueTooLarge)
    );
    assert_eq!(kv.stats(), before);
}

/// A sequence whose length is unknown up front: postcard cannot encode it.
struct Unsized;

impl Serialize for Unsized {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((0u8..3).filter(|_| true))
    }
}

#[test]
fn what_postcard_cannot_encode_is_encoding() {
    let mut kv = fresh();
    let before = kv.stats();
    let mut buf = [0u8; 24];
    assert_eq!(kv.set_as(b"seq", &Unsized, &mut buf), Err(Error::Encoding));
    assert_eq!(kv.stats(), before);
    assert_eq!(
        Error::<RamError>::Encoding.to_string(),
        "typed value does not encode or decode (postcard)"
    );
}
