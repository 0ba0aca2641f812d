//! `MutexFlashRegion` (feature `critical-section`): both regions on one flash
//! behind a `critical_section::Mutex`, and the store over them is `Send`.
//! Compile-time assertions of `Send`, then the pair at work over `SimFlash`:
//! open, set, a switch, the store moved to another thread, reopen; the bytes
//! are the `RefCell` form's; a flash lent out is `Busy`, not a panic.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use critical_section::Mutex;
use twinkv_core::{
    flash_scratch_len, Config, Error, FixedIndex, FlashError, FlashStore, MutexFlashRegion,
    MutexFlashStore, Scratch, SharedFlashRegion, SimFlash, Store,
};

type Flash = SimFlash<Vec<u8>, 8, 256>;
const SIZE: u32 = 4096;
const CONFIG: Config = Config::new(0x5EED).with_limits(16, 48);
const SCRATCH: usize = flash_scratch_len::<Flash>(&CONFIG);
type Kv<'f> = MutexFlashStore<'f, Flash, 32, SCRATCH>;

// Compile-time: the region and the store over it are `Send` (and the mutex
// the two regions share is `Sync`). A `FlashStore` over a `RefCell` is not:
// that is what this type is for.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<MutexFlashRegion<'static, Flash>>();
    assert_send::<Kv<'static>>();
    assert_send::<Store<MutexFlashRegion<'static, Flash>, FixedIndex<8>, &'static mut [u8]>>();
    assert_sync::<Mutex<RefCell<Flash>>>();
};

fn flash() -> Mutex<RefCell<Flash>> {
    let f = Flash::new(vec![0; Flash::storage_len(SIZE)], SIZE).unwrap();
    Mutex::new(RefCell::new(f))
}

fn open(flash: &Mutex<RefCell<Flash>>) -> Kv<'_> {
    let (a, b) = MutexFlashRegion::halves(flash, 0, SIZE).unwrap();
    Store::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG).unwrap()
}

fn value(kv: &mut Kv<'_>, key: &[u8]) -> Option<Vec<u8>> {
    let mut buf = [0u8; 48];
    let n = kv.get(key, &mut buf).unwrap()?;
    Some(buf[..n].to_vec())
}

#[test]
fn pair_opens_sets_switches_and_reopens_across_threads() {
    let flash = flash();
    let mut kv = open(&flash);
    kv.set(b"boot", b"1").unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // The store moves to another thread; a third one reads the flash's
        // counters through the same mutex meanwhile.
        let writer = s.spawn(|| {
            for i in 0..200u32 {
                let v = format!("reading {i}");
                kv.set(b"sensor", v.as_bytes()).unwrap();
            }
            assert!(kv.stats().switches > 0, "the writes switched regions");
            done.store(true, Ordering::Release);
            kv
        });
        let reader = s.spawn(|| {
            let mut last = 0;
            while !done.load(Ordering::Acquire) {
                let now = critical_section::with(|cs| flash.borrow(cs).borrow().stats().programs);
                assert!(now >= last, "programs went from {last} to {now}");
                last = now;
            }
        });
        let mut kv = writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(
            value(&mut kv, b"sensor").as_deref(),
            Some(&b"reading 199"[..])
        );
        assert!(kv.remove(b"boot").unwrap());
    });
    let mut kv = open(&flash);
    assert_eq!(
        value(&mut kv, b"sensor").as_deref(),
        Some(&b"reading 199"[..])
    );
    assert_eq!(value(&mut kv, b"boot"), None);
    assert_eq!(kv.len(), 1);
}

#[test]
fn same_bytes_as_the_refcell_form() {
    let flash = flash();
    {
        let mut kv = open(&flash);
        kv.set(b"mode", b"eco").unwrap();
    }
    // The bytes the mutex form wrote, opened through a `RefCell` region.
    let cell: RefCell<Flash> = flash.into_inner();
    let (a, b) = SharedFlashRegion::halves(&cell, 0, SIZE).unwrap();
    let mut kv: FlashStore<'_, Flash, 32, SCRATCH> =
        Store::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG).unwrap();
    let mut buf = [0u8; 8];
    let n = kv.get(b"mode", &mut buf).unwrap().unwrap();
    assert_eq!(&buf[..n], b"eco");
}

#[test]
fn flash_lent_out_is_busy_and_nothing_is_written() {
    let flash = flash();
    let mut kv = open(&flash);
    kv.set(b"k", b"v1").unwrap();
    let before = critical_section::with(|cs| flash.borrow(cs).borrow().as_bytes().to_vec());
    critical_section::with(|cs| {
        let _held = flash.borrow(cs).borrow_mut();
        assert_eq!(kv.set(b"k", b"v2"), Err(Error::Region(FlashError::Busy)));
    });
    let after = critical_section::with(|cs| flash.borrow(cs).borrow().as_bytes().to_vec());
    assert!(before == after, "a refused call wrote");
    // Building a region while the flash is lent out is refused too.
    critical_section::with(|cs| {
        let _held = flash.borrow(cs).borrow_mut();
        assert!(MutexFlashRegion::whole(&flash).is_err());
    });
}
