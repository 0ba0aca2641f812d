//! The embedded-storage adapter: geometry mapping, what construction rejects,
//! bounced reads, error reachability, the three layouts (two flashes, two
//! ranges of one flash, one partition in halves) and erase units from 256 B
//! to 128 KiB.

use std::cell::RefCell;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use twinkv_core::testkit::flash::*;
use twinkv_core::testkit::*;
use twinkv_core::{
    flash_geometry, Config, Error, FixedIndex, FlashConfigError, FlashError, FlashRegion, Geometry,
    Region, SharedFlashRegion, SimError, SimFlash, Store,
};

/// A flash that accepts anything, with arbitrary units: for the checks.
struct Fake<const R: usize, const W: usize, const E: usize>(usize);

impl<const R: usize, const W: usize, const E: usize> ErrorType for Fake<R, W, E> {
    type Error = NorFlashErrorKind;
}
impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for Fake<R, W, E> {
    const READ_SIZE: usize = R;
    fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), Self::Error> {
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.0
    }
}
impl<const R: usize, const W: usize, const E: usize> NorFlash for Fake<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, _: u32, _: u32) -> Result<(), Self::Error> {
        Ok(())
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn build<const R: usize, const W: usize, const E: usize>(
    cap: usize,
    offset: u32,
    size: u32,
) -> Result<Geometry, FlashConfigError> {
    FlashRegion::new(Fake::<R, W, E>(cap), offset, size).map(|r| r.geometry())
}

#[test]
fn geometry_maps_read_write_erase_sizes() {
    type F = SimFlash<Vec<u8>, 8, 4096, 4>;
    let flash = F::new(vec![0; F::storage_len(16384)], 16384).unwrap();
    let mut r = FlashRegion::new(flash, 8192, 8192).unwrap();
    assert_eq!(
        r.geometry(),
        Geometry {
            size: 8192,
            read_unit: 4,
            write_unit: 8,
            erase_unit: 4096
        }
    );
    assert_eq!(r.offset(), 8192);
    assert!(r.persists_in_order());
    r.program(0, &[0; 8]).unwrap();
    let before = r.flash().stats();
    r.sync().unwrap();
    assert_eq!(r.flash().stats(), before, "sync is a no-op");
    assert_eq!(r.flash().as_bytes()[8192..8200], [0; 8], "offset applied");
    assert_eq!(flash_geometry::<F>(8192), r.geometry());
}

#[test]
fn accepts_every_supported_write_unit_and_erase_unit() {
    macro_rules! ok {
        ($w:literal; $($e:literal),*) => {$(
            let g = build::<1, $w, $e>(4 * $e, $e, 2 * $e).unwrap();
            assert_eq!((g.write_unit, g.erase_unit, g.size), ($w, $e, 2 * $e));
        )*};
    }
    macro_rules! all {
        ($($w:literal),*) => {$(
            ok!($w; 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072);
        )*};
    }
    all!(1, 2, 4, 8, 16, 32);
    // Read units up to 32 that divide the erase unit.
    build::<2, 4, 256>(1024, 0, 512).unwrap();
    build::<16, 8, 4096>(8192, 0, 8192).unwrap();
    build::<32, 32, 256>(1024, 0, 512).unwrap();
    // Core also takes small erase units (down to W) and up to 1 MiB.
    build::<1, 4, 64>(1024, 0, 512).unwrap();
    build::<1, 4, 1048576>(2 << 20, 0, 2 << 20).unwrap();
}

#[test]
fn rejects_what_the_format_cannot_serve() {
    use FlashConfigError::*;
    assert_eq!(build::<1, 3, 256>(1024, 0, 512), Err(WriteSize));
    assert_eq!(build::<1, 64, 256>(1024, 0, 512), Err(WriteSize));
    assert_eq!(build::<1, 0, 256>(1024, 0, 512), Err(WriteSize));
    assert_eq!(build::<1, 4, 384>(1536, 0, 768), Err(EraseSize));
    assert_eq!(build::<1, 32, 16>(1024, 0, 512), Err(EraseSize));
    assert_eq!(build::<1, 4, 2097152>(4 << 20, 0, 4 << 20), Err(EraseSize));
    assert_eq!(build::<0, 4, 256>(1024, 0, 512), Err(ReadSize));
    assert_eq!(build::<64, 4, 256>(1024, 0, 512), Err(ReadSize));
    assert_eq!(build::<3, 4, 256>(1024, 0, 512), Err(ReadSize));
    assert_eq!(build::<1, 4, 256>(1024, 128, 512), Err(Misaligned));
    assert_eq!(build::<1, 4, 256>(1024, 0, 300), Err(Misaligned));
    assert_eq!(build::<1, 4, 256>(1024, 768, 512), Err(OutOfBounds));
    assert_eq!(build::<1, 4, 256>(1024, 0, 0), Err(OutOfBounds));
    assert_eq!(
        build::<1, 4, 256>(1024, u32::MAX - 255, 256),
        Err(OutOfBounds)
    );
    let cell = RefCell::new(Fake::<1, 4, 256>(4096));
    assert_eq!(
        SharedFlashRegion::pair(&cell, 0..1024, 768..2048).err(),
        Some(Overlap)
    );
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 1024..0;
    assert_eq!(
        SharedFlashRegion::pair(&cell, reversed, 1024..2048).err(),
        Some(OutOfBounds)
    );
    assert_eq!(
        SharedFlashRegion::halves(&cell, 0, 768).err(),
        Some(Misaligned),
        "1.5 erase units per half"
    );
    assert_eq!(
        SharedFlashRegion::halves(&cell, 2048, 4096).err(),
        Some(OutOfBounds)
    );
    let (a, b) = SharedFlashRegion::halves(&cell, 1024, 2048).unwrap();
    assert_eq!((a.offset(), b.offset()), (1024, 2048));
    assert_eq!(a.geometry().size, 1024);
    let (a, b) = SharedFlashRegion::pair(&cell, 3072..4096, 0..2048).unwrap();
    assert_eq!((a.geometry().size, b.geometry().size), (1024, 2048));
    // While the cell is borrowed its capacity cannot be read.
    let guard = cell.borrow_mut();
    assert_eq!(SharedFlashRegion::whole(&cell).err(), Some(Busy));
    drop(guard);
    // Display and defaults.
    assert!(Overlap.to_string().contains("overlap"));
}

#[test]
fn config_that_does_not_fit_is_refused_at_open_and_at_compile_time() {
    let flash = RefCell::new(sim::<4>(1024));
    let (a, b) = SharedFlashRegion::halves(&flash, 0, 1024).unwrap();
    // A 1 KiB value cannot fit 0.9 of a 512-byte region.
    let cfg = Config::new(7).with_limits(16, 1024);
    let r = Store::open(a, b, FixedIndex::<8>::new(), vec![0u8; 4096], cfg);
    assert!(matches!(r, Err(Error::InvalidConfig)));
    assert!(
        flash.borrow().as_bytes().iter().all(|&b| b == 0xFF),
        "nothing written"
    );
    // The same check at compile time.
    const G: Geometry = flash_geometry::<Sim<4>>(512);
    const BIG: Config = Config::new(7).with_limits(16, 1024);
    const SMALL: Config = Config::new(7).with_limits(16, 32);
    const _: () = assert!(!BIG.fits(G, G) && SMALL.fits(G, G));
    // One largest record at W = 32 is 8 + 16 + 32 = 56 → 64 bytes: a 256 B
    // region (capacity 96, 0.9 → 86) takes it, a ratio of 0.5 does not.
    const G32: Geometry = flash_geometry::<Sim<32>>(256);
    const _: () = assert!(SMALL.fits(G32, G32));
    const _: () = assert!(!SMALL.with_ratios(5000, 5000).fits(G32, G32));
}

/// Every offset and length in a window, read through regions whose flash
/// insists on aligned reads: the adapter bounces the unaligned ends.
fn bounced_reads<const R: usize>() {
    type F<const R: usize> = SimFlash<Vec<u8>, 4, 256, R>;
    let mut flash = F::<R>::new(vec![0; F::<R>::storage_len(1024)], 1024).unwrap();
    for (i, b) in flash.data_mut().iter_mut().enumerate() {
        *b = (i * 7 + i / 256) as u8;
    }
    let image = flash.as_bytes().to_vec();
    let mut unaligned = [0u8; 3];
    assert_eq!(
        flash.read(1, &mut unaligned),
        if R > 1 {
            Err(SimError::NotAligned)
        } else {
            Ok(())
        },
        "the simulator enforces READ_SIZE"
    );
    let mut r = FlashRegion::new(flash, 256, 512).unwrap();
    for off in 0..80u32 {
        for len in 0..80usize {
            let mut buf = vec![0u8; len];
            r.read(off, &mut buf).unwrap();
            assert_eq!(
                buf,
                image[256 + off as usize..256 + off as usize + len],
                "R={R} off={off} len={len}"
            );
        }
    }
    // The last bytes of the region: a bounce never leaves it.
    let mut buf = [0u8; 5];
    r.read(507, &mut buf).unwrap();
    assert_eq!(buf, image[763..768]);
    // An aligned read is one flash read, straight into the buffer.
    r.flash_mut().reset_stats();
    let mut buf = [0u8; 64];
    r.read(32, &mut buf).unwrap();
    assert_eq!(r.flash().stats().reads, 1);
    // Unaligned head and tail: at most three flash reads.
    r.flash_mut().reset_stats();
    let mut buf = [0u8; 61];
    r.read(1, &mut buf).unwrap();
    assert!(r.flash().stats().reads <= 3);
}

#[test]
fn unaligned_reads_are_bounced() {
    bounced_reads::<1>();
    bounced_reads::<2>();
    bounced_reads::<4>();
    bounced_reads::<16>();
    bounced_reads::<32>();
}

#[test]
fn out_of_region_calls_are_refused_and_never_reach_the_neighbour() {
    let flash = RefCell::new(sim::<4>(2048));
    let (mut a, mut b) = SharedFlashRegion::halves(&flash, 0, 2048).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(a.read(1020, &mut buf), Err(FlashError::OutOfBounds));
    assert_eq!(a.program(1024, &[0; 4]), Err(FlashError::OutOfBounds));
    assert_eq!(
        a.program(u32::MAX - 3, &[0; 8]),
        Err(FlashError::OutOfBounds)
    );
    assert_eq!(a.erase(768, 1280), Err(FlashError::OutOfBounds));
    assert_eq!(a.erase(512, 256), Err(FlashError::OutOfBounds));
    assert!(flash.borrow().as_bytes().iter().all(|&b| b == 0xFF));
    b.program(0, &[1, 2, 3, 4]).unwrap();
    assert_eq!(flash.borrow().as_bytes()[1024..1028], [1, 2, 3, 4]);
    assert_eq!(
        FlashError::<SimError>::OutOfBounds.kind(),
        NorFlashErrorKind::OutOfBounds
    );
}

#[test]
fn the_flash_error_stays_reachable() {
    let flash = RefCell::new(sim::<8>(1024));
    let (mut a, b) = SharedFlashRegion::halves(&flash, 0, 1024).unwrap();
    a.program(8, &[0; 8]).unwrap();
    let e = a.program(8, &[0; 8]).unwrap_err();
    assert_eq!(
        e,
        FlashError::Flash(SimError::AlreadyProgrammed { offset: 8 })
    );
    assert_eq!(e.flash(), Some(&SimError::AlreadyProgrammed { offset: 8 }));
    assert_eq!(
        a.program(4, &[0; 8]),
        Err(FlashError::Flash(SimError::NotAligned))
    );
    assert_eq!(
        FlashError::Flash(SimError::NotAligned).kind(),
        NorFlashErrorKind::NotAligned
    );
    a.erase(0, 256).unwrap();

    // Through the store: core's `Error::Region` carries the flash's error.
    let mut s = Store::open(a, b, FixedIndex::<8>::new(), vec![0u8; 256], config()).unwrap();
    s.set(b"k", b"v").unwrap();
    flash.borrow_mut().cut_power();
    let e = s.set(b"k", b"w").unwrap_err();
    assert_eq!(e, Error::Region(FlashError::Flash(SimError::PowerLost)));
    assert!(e.to_string().contains("PowerLost"), "{e}");
    drop(s);
    flash.borrow_mut().restore_power();
    let mut s = open::<8>(&flash, config()).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(s.get(b"k", &mut buf).unwrap(), Some(1));
    assert_eq!(&buf[..1], b"v");
}

#[test]
fn a_borrowed_cell_is_busy_not_a_panic() {
    let flash = RefCell::new(sim::<4>(1024));
    let (mut a, _b) = SharedFlashRegion::halves(&flash, 0, 1024).unwrap();
    let guard = flash.borrow();
    let mut buf = [0u8; 4];
    assert_eq!(a.read(0, &mut buf), Err(FlashError::Busy));
    assert_eq!(a.program(0, &[0; 4]), Err(FlashError::Busy));
    assert_eq!(a.erase(0, 256), Err(FlashError::Busy));
    drop(guard);
    a.read(0, &mut buf).unwrap();
}

/// Seed-demo-like run: writes, several switches, reopen, check.
fn exercise<R: Region>(
    mut open: impl FnMut() -> Result<Store<R, FixedIndex<32>, Vec<u8>>, Error<R::Error>>,
) -> u32
where
    R::Error: std::fmt::Debug,
{
    let keys = varied_universe(7);
    let mut model = Model::new();
    let mut switches = 0;
    {
        let mut s = open().unwrap();
        for i in 0..120usize {
            let k = &keys[i % 7];
            let v = format!("value-{i}").into_bytes();
            s.set(k, &v).unwrap();
            model.insert(k.clone(), v);
            check_store(&mut s, &model, &keys).unwrap();
        }
        switches += s.stats().switches;
    }
    let mut s = open().unwrap();
    check_store(&mut s, &model, &keys).unwrap();
    switches
}

#[test]
fn two_flashes_each_owned() {
    let mut fa = sim::<4>(1024);
    let mut fb = sim::<4>(1024);
    let keys = varied_universe(7);
    let mut model = Model::new();
    {
        // `FlashRegion` over `&mut F`: embedded-storage implements `NorFlash`
        // for it.
        let a = FlashRegion::whole(&mut fa).unwrap();
        let b = FlashRegion::whole(&mut fb).unwrap();
        let mut s = Store::open(a, b, FixedIndex::<32>::new(), vec![0; 256], config()).unwrap();
        for i in 0..120usize {
            let k = &keys[i % 7];
            let v = format!("value-{i}").into_bytes();
            s.set(k, &v).unwrap();
            model.insert(k.clone(), v);
        }
        check_store(&mut s, &model, &keys).unwrap();
        assert!(s.stats().switches >= 5, "{:?}", s.stats());
    }
    assert!(fa.stats().bytes_programmed > 0 && fb.stats().bytes_programmed > 0);
    // Owned by value, and given back after use.
    let a = FlashRegion::whole(fa).unwrap();
    let b = FlashRegion::whole(fb).unwrap();
    let mut s = Store::open(a, b, FixedIndex::<32>::new(), vec![0; 256], config()).unwrap();
    check_store(&mut s, &model, &keys).unwrap();
    let (a, _b, _, _) = s.into_parts();
    let fa = a.into_inner();
    assert!(fa.stats().reads > 0);
}

#[test]
fn two_ranges_of_one_flash_of_different_sizes() {
    // Guard units around and between the regions must stay erased.
    let flash = RefCell::new(sim::<16>(4096));
    let switches = exercise(|| {
        let (a, b) = SharedFlashRegion::pair(&flash, 2816..3840, 256..1792).unwrap();
        Store::open(a, b, FixedIndex::new(), vec![0; 256], config())
    });
    assert!(switches >= 3, "{switches}");
    let f = flash.borrow();
    let bytes = f.as_bytes();
    for range in [0..256, 1792..2816, 3840..4096] {
        assert!(
            bytes[range.clone()].iter().all(|&b| b == 0xFF),
            "{range:?} touched"
        );
    }
    let wear = f.wear(|u| matches!(u, 0 | 7..=10 | 15));
    assert_eq!(wear.max, 0, "guard units never erased");
}

#[test]
fn one_partition_in_halves() {
    let flash = RefCell::new(sim::<32>(2048));
    let switches = exercise(|| open::<32>(&flash, config()));
    assert!(switches >= 5, "{switches}");
}

/// Erase units from 256 B to 128 KiB: a store on two units of each, with
/// switches (every switch erases the target's used units).
fn big_erase<const W: usize, const EU: usize>() {
    type F<const W: usize, const EU: usize> = SimFlash<Vec<u8>, W, EU>;
    // Two erase units per region.
    let size = 4 * EU as u32;
    let max_value = (EU / 8).min(200);
    let flash =
        RefCell::new(F::<W, EU>::new(vec![0; F::<W, EU>::storage_len(size)], size).unwrap());
    let cfg = Config::new(0xB16).with_limits(16, max_value as u32);
    let keys = varied_universe(9);
    let mut model = Model::new();
    let open = || {
        let (a, b) = SharedFlashRegion::halves(&flash, 0, size).unwrap();
        let scratch = vec![
                0u8;
                Store::<SharedFlashRegion<'_, F<W, EU>>, FixedIndex<32>, Vec<u8>>::scratch_len(
                    &cfg, W as u32
                )
            ];
        Store::open(a, b, FixedIndex::<32>::new(), scratch, cfg)
    };
    {
        let mut s = open().unwrap();
        for i in 0..40usize {
            let k = &keys[i % keys.len()];
            let v = vec![i as u8; i * 5 % (max_value + 1)];
            s.set(k, &v).unwrap();
            model.insert(k.clone(), v);
            if i % 10 == 9 {
                s.compact().unwrap();
            }
        }
        check_store(&mut s, &model, &keys).unwrap();
        assert!(s.stats().switches >= 4);
    }
    let mut s = open().unwrap();
    check_store(&mut s, &model, &keys).unwrap();
    drop(s);
    let f = flash.borrow();
    assert!(
        f.erase_count(0) >= 1 && f.erase_count(2) >= 1,
        "W={W} E={EU}"
    );
}

#[test]
fn erase_units_from_256_bytes_to_128_kib() {
    big_erase::<1, 256>();
    big_erase::<4, 256>();
    big_erase::<32, 512>();
    big_erase::<8, 4096>();
    big_erase::<16, 65536>();
    big_erase::<4, 131072>();
    big_erase::<32, 131072>();
}

#[test]
fn read_unit_above_one_runs_a_store() {
    type F = SimFlash<Vec<u8>, 8, 256, 16>;
    let flash = RefCell::new(F::new(vec![0; F::storage_len(2048)], 2048).unwrap());
    let switches = exercise(|| {
        let (a, b) = SharedFlashRegion::halves(&flash, 0, 2048).unwrap();
        Store::open(a, b, FixedIndex::new(), vec![0; 256], config())
    });
    assert!(switches >= 3);
}

/// The async flash's geometry and scratch length are the blocking flash's,
/// and `AsyncFlashRegion` takes a flash that reads blocking and writes async
/// (nrf-softdevice's shape) with the blocking adapter's checks.
#[test]
fn async_flash_geometry_and_adapter_match_the_blocking_ones() {
    use twinkv_core::testkit::asynch::{block_on, SplitFlash};
    use twinkv_core::{
        async_flash_geometry, async_flash_scratch_len, flash_geometry, flash_scratch_len,
        AsyncFlashRegion, AsyncRegion, Config, FlashConfigError, SimFlash,
    };
    type Flash = SimFlash<Vec<u8>, 8, 1024>;
    const CONFIG: Config = Config::new(0x5EED).with_limits(16, 64);
    assert_eq!(
        async_flash_geometry::<SplitFlash<Flash>>(8192),
        flash_geometry::<Flash>(8192)
    );
    assert_eq!(
        async_flash_scratch_len::<SplitFlash<Flash>>(&CONFIG),
        flash_scratch_len::<Flash>(&CONFIG)
    );
    let flash = || SplitFlash(Flash::new(vec![0; Flash::storage_len(8192)], 8192).unwrap());
    assert!(matches!(
        AsyncFlashRegion::new(flash(), 512, 1024),
        Err(FlashConfigError::Misaligned)
    ));
    assert!(matches!(
        AsyncFlashRegion::new(flash(), 4096, 8192),
        Err(FlashConfigError::OutOfBounds)
    ));
    let mut r = AsyncFlashRegion::new(flash(), 4096, 4096).unwrap();
    assert_eq!(r.geometry(), flash_geometry::<Flash>(4096));
    block_on(r.program(8, &[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
    let mut buf = [0u8; 5];
    block_on(r.read(9, &mut buf)).unwrap();
    assert_eq!(buf, [2, 3, 4, 5, 6]);
    assert_eq!(
        r.flash().0.as_bytes()[4096 + 8..4096 + 16],
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
}
