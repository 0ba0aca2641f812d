//! `Store::open_in` (and `AsyncStore::open_in`): the store opened into a
//! place the caller provides is the store `Store::open` gives — same checks,
//! same state, same answers — and a failed open leaves the place empty.

use twinkv_core::testkit::asynch::block_on;
use twinkv_core::{
    AsyncStore, BlockingAsync, Config, Error, FixedIndex, Geometry, RamRegion, Store,
};

const SIZE: u32 = 4096;

fn geo() -> Geometry {
    Geometry {
        size: SIZE,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 512,
    }
}

fn config() -> Config {
    Config::new(0x5EED).with_limits(32, 128)
}

fn storage() -> (Vec<u8>, Vec<u8>) {
    let len = RamRegion::<&mut [u8]>::storage_len(SIZE, 4, 512);
    (vec![0u8; len], vec![0u8; len])
}

#[test]
fn open_in_formats_writes_and_reopens_like_open() {
    let (mut a, mut b) = storage();
    let mut scratch = [0u8; 512];
    let mut index = FixedIndex::<64>::new();
    {
        let ra = RamRegion::new(&mut a[..], geo()).unwrap();
        let rb = RamRegion::new(&mut b[..], geo()).unwrap();
        let mut slot = None;
        let store =
            Store::open_in(&mut slot, ra, rb, &mut index, &mut scratch[..], config()).unwrap();
        assert!(store.is_empty());
        // Enough writes for several switches.
        for i in 0..400u32 {
            store
                .set(format!("key{}", i % 20).as_bytes(), &i.to_le_bytes())
                .unwrap();
        }
        store.remove(b"key3").unwrap();
        assert!(store.stats().switches > 0);
        // The store is in the slot.
        assert_eq!(slot.as_ref().map(|s| s.len()), Some(19));
    }
    // Reopened both ways: the same state.
    let stats_and_values = |via_in: bool, a: &mut [u8], b: &mut [u8]| {
        let ra = RamRegion::with_contents(a, geo()).unwrap();
        let rb = RamRegion::with_contents(b, geo()).unwrap();
        let mut index = FixedIndex::<64>::new();
        let mut scratch = [0u8; 512];
        let mut slot = None;
        let store = if via_in {
            Store::open_in(&mut slot, ra, rb, &mut index, &mut scratch[..], config()).unwrap()
        } else {
            slot.insert(Store::open(ra, rb, &mut index, &mut scratch[..], config()).unwrap())
        };
        let mut buf = [0u8; 128];
        let values: Vec<Option<Vec<u8>>> = (0..20)
            .map(|i| {
                store
                    .get(format!("key{i}").as_bytes(), &mut buf)
                    .unwrap()
                    .map(|n| buf[..n].to_vec())
            })
            .collect();
        (store.stats(), values)
    };
    let via_open = stats_and_values(false, &mut a, &mut b);
    let via_in = stats_and_values(true, &mut a, &mut b);
    assert_eq!(via_open, via_in);
    assert_eq!(via_in.1[3], None);
    assert_eq!(via_in.1[19], Some(399u32.to_le_bytes().to_vec()));
}

#[test]
fn a_failed_open_in_leaves_the_slot_empty() {
    let (mut a, mut b) = storage();
    let (mut c, mut d) = storage();
    let mut scratch = [0u8; 512];
    let mut scratch2 = [0u8; 512];
    {
        let ra = RamRegion::new(&mut a[..], geo()).unwrap();
        let rb = RamRegion::new(&mut b[..], geo()).unwrap();
        let mut store =
            Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config()).unwrap();
        store.set(b"volume", b"7").unwrap();
    }
    // The slot holds a store (on other regions) before the failed opens.
    let mut slot = None;
    let rc = RamRegion::new(&mut c[..], geo()).unwrap();
    let rd = RamRegion::new(&mut d[..], geo()).unwrap();
    Store::open_in(
        &mut slot,
        rc,
        rd,
        FixedIndex::<64>::new(),
        &mut scratch2[..],
        config(),
    )
    .unwrap();
    assert!(slot.is_some());
    // Too short a scratch buffer: refused before anything is read, with the
    // length it needs, as by `open`.
    let mut short = [0u8; 8];
    let ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
    let rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
    let r = Store::open_in(
        &mut slot,
        ra,
        rb,
        FixedIndex::<64>::new(),
        &mut short[..],
        config(),
    );
    assert!(matches!(r, Err(Error::BufferTooSmall(n)) if n > 8));
    assert!(slot.is_none());
    // A store of another id: refused after reading, the slot left empty.
    // (A slot's type names the regions' borrow: one slot per borrow here.)
    let mut slot = Some(
        Store::open(
            RamRegion::new(&mut c[..], geo()).unwrap(),
            RamRegion::new(&mut d[..], geo()).unwrap(),
            FixedIndex::<64>::new(),
            &mut scratch2[..],
            config(),
        )
        .unwrap(),
    );
    let ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
    let rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
    let other = Config::new(0xBEEF).with_limits(32, 128);
    let r = Store::open_in(
        &mut slot,
        ra,
        rb,
        FixedIndex::<64>::new(),
        &mut scratch[..],
        other,
    );
    assert!(matches!(r, Err(Error::ForeignStore)));
    assert!(slot.is_none());
    // The same regions open in a slot: the value is there.
    let ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
    let rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
    let mut slot = None;
    let store = Store::open_in(
        &mut slot,
        ra,
        rb,
        FixedIndex::<64>::new(),
        &mut scratch[..],
        config(),
    )
    .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(store.get(b"volume", &mut buf).unwrap(), Some(1));
}

#[test]
fn open_in_replaces_what_the_slot_held() {
    let (mut a, mut b) = storage();
    let (mut c, mut d) = storage();
    let mut scratch = [0u8; 512];
    let mut scratch2 = [0u8; 512];
    let mut slot = None;
    let ra = RamRegion::new(&mut a[..], geo()).unwrap();
    let rb = RamRegion::new(&mut b[..], geo()).unwrap();
    let first = Store::open_in(
        &mut slot,
        ra,
        rb,
        FixedIndex::<64>::new(),
        &mut scratch[..],
        config(),
    )
    .unwrap();
    first.set(b"a", b"1").unwrap();
    let rc = RamRegion::new(&mut c[..], geo()).unwrap();
    let rd = RamRegion::new(&mut d[..], geo()).unwrap();
    let second = Store::open_in(
        &mut slot,
        rc,
        rd,
        FixedIndex::<64>::new(),
        &mut scratch2[..],
        config(),
    )
    .unwrap();
    assert!(second.is_empty());
}

#[test]
fn async_open_in_is_the_same_store() {
    let (mut a, mut b) = storage();
    let mut scratch = [0u8; 512];
    let mut index = FixedIndex::<64>::new();
    {
        let ra = BlockingAsync(RamRegion::new(&mut a[..], geo()).unwrap());
        let rb = BlockingAsync(RamRegion::new(&mut b[..], geo()).unwrap());
        let mut slot = None;
        let store = block_on(AsyncStore::open_in(
            &mut slot,
            ra,
            rb,
            &mut index,
            &mut scratch[..],
            config(),
        ))
        .unwrap();
        for i in 0..200u32 {
            block_on(store.set(b"counter", &i.to_le_bytes())).unwrap();
        }
        assert!(store.stats().switches > 0);
    }
    let ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
    let rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
    let mut index = FixedIndex::<64>::new();
    let mut store = Store::open(ra, rb, &mut index, &mut scratch[..], config()).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(store.get(b"counter", &mut buf).unwrap(), Some(4));
    assert_eq!(buf, 199u32.to_le_bytes());
}
