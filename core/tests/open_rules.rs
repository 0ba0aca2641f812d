//! Opening: the decision table of FORMAT.md §8, foreign and unrecognised
//! storage left unchanged, arbitrary bytes never panic, configuration errors
//! at construction, and the `Send`/`Sync` of public types.

use proptest::prelude::*;
use twinkv_core::format::marker::Marker;
use twinkv_core::format::Seal;
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, FixedIndex, Geometry, RamRegion, Region, Store};

fn config() -> Config {
    Config::new(0x0B3A).with_limits(8, 24)
}

fn populated<'p>(power: &'p Power) -> Rig<'p> {
    let mut rig = Rig::new(power, 1024, 4, config());
    let mut s = rig.open().unwrap();
    for i in 0..20u8 {
        s.set(&[b'k', i % 4], &[i; 16]).unwrap();
    }
    drop(s);
    rig
}

#[test]
fn both_empty_formats_region_a_only() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, config());
    drop(rig.open().unwrap());
    let (a, b) = rig.snapshot();
    assert!(b.iter().all(|&x| x == 0xFF), "B untouched");
    assert!(a[..84].iter().any(|&x| x != 0xFF) && a[84..].iter().all(|&x| x == 0xFF));
    // An empty A is programmed as it reads (no erase); B is left alone
    // until its first use.
    assert_eq!(rig.a.ram.stats().erases + rig.b.ram.stats().erases, 0);
}

#[test]
fn read_only_open_of_empty_storage_writes_nothing() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, config());
    assert!(matches!(rig.open_read_only(), Err(Error::ReadOnly)));
    assert!(rig.snapshot().0.iter().all(|&x| x == 0xFF));
}

#[test]
fn foreign_store_id_is_refused_and_left_unchanged() {
    let power = Power::default();
    let mut rig = populated(&power);
    let before = rig.snapshot();
    rig.config = Config::new(0xF0F0).with_limits(8, 24);
    assert!(matches!(rig.open(), Err(Error::ForeignStore)));
    assert_eq!(rig.snapshot(), before);
    // Adopting the recorded id opens it.
    rig.config = rig.config.adopting_store_id();
    assert_eq!(rig.open().unwrap().len(), 4);
}

#[test]
fn regions_of_two_different_stores_are_refused() {
    let p1 = Power::default();
    let mut r1 = populated(&p1);
    r1.open().unwrap().compact().unwrap();
    let p2 = Power::default();
    let mut r2 = Rig::new(&p2, 1024, 4, Config::new(0x2222).with_limits(8, 24));
    drop(r2.open().unwrap());
    // A from store 1 (superseded after the compact), A of store 2 as B.
    let a = r1.snapshot().1;
    let b = r2.snapshot().0;
    let p3 = Power::default();
    let mut mixed = Rig::new(&p3, 1024, 4, config().adopting_store_id());
    mixed.a.ram.data_mut().copy_from_slice(&a);
    mixed.b.ram.data_mut().copy_from_slice(&b);
    assert!(matches!(mixed.open(), Err(Error::ForeignStore)));
    assert_eq!(mixed.snapshot(), (a, b));
}

#[test]
fn config_mismatch_is_refused_before_writing() {
    let power = Power::default();
    let mut rig = populated(&power);
    let before = rig.snapshot();
    rig.config = Config::new(0x0B3A).with_limits(8, 32);
    assert!(matches!(rig.open(), Err(Error::ConfigMismatch)));
    rig.config = Config::new(0x0B3A)
        .with_limits(8, 24)
        .with_ratios(7000, 9000);
    assert!(matches!(rig.open(), Err(Error::ConfigMismatch)));
    assert_eq!(rig.snapshot(), before);
}

/// Rewrites region `r`'s header with another generation, keeping its markers
/// valid for the new seal (as a real store of that generation would have).
fn set_generation(r: &mut CutRegion<'_>, generation: u64) {
    use twinkv_core::format::RegionHeader;
    let data = r.ram.data_mut();
    let mut h = RegionHeader::decode(data[..48].try_into().unwrap()).unwrap();
    let seal = Seal {
        store_id: h.store_id,
        generation,
    };
    h.generation = generation;
    data[..48].copy_from_slice(&h.encode());
    for (m, at) in [
        (Marker::Switching, 48),
        (Marker::Commit, 60),
        (Marker::Superseded, 72),
    ] {
        if data[at..at + 12].iter().any(|&b| b != 0xFF) {
            let arg = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap());
            data[at..at + 12].copy_from_slice(&m.encode(seal, arg));
        }
    }
}

#[test]
fn equal_generations_or_a_gap_are_corruption() {
    let power = Power::default();
    let mut rig = populated(&power);
    rig.open().unwrap().compact().unwrap(); // B gen 2 active, A gen 1 superseded
    let before = rig.snapshot();
    // Un-supersede A so both are plain committed regions, then vary gens.
    rig.a.ram.data_mut()[72..84].fill(0xFF);
    for (ga, gb) in [(2, 2), (1, 3), (5, 2)] {
        set_generation(&mut rig.a, ga);
        set_generation(&mut rig.b, gb);
        let snap = rig.snapshot();
        assert!(
            matches!(rig.open(), Err(Error::Corrupted)),
            "gens {ga} {gb}"
        );
        assert_eq!(rig.snapshot(), snap);
    }
    let _ = before;
}

/// A half-erased (unrecognisable) partner is ours to erase only while the
/// active region's "switching" marker is set.
#[test]
fn half_erased_partner_is_ours_only_when_switching() {
    let power = Power::default();
    let mut rig = populated(&power);
    // Garbage in B, A committed without "switching": refused, unchanged.
    for (i, b) in rig.b.ram.data_mut().iter_mut().enumerate().take(300) {
        *b = (i * 7) as u8;
    }
    let before = rig.snapshot();
    assert!(matches!(rig.open(), Err(Error::Unrecognised)));
    assert_eq!(rig.snapshot(), before);
    // With "switching" set in A (a switch was erasing B), B is ours.
    let seal = {
        let h =
            twinkv_core::format::RegionHeader::decode(before.0[..48].try_into().unwrap()).unwrap();
        Seal {
            store_id: h.store_id,
            generation: h.generation,
        }
    };
    rig.a.ram.data_mut()[48..60].copy_from_slice(&Marker::Switching.encode(seal, 0));
    let mut s = rig.open().unwrap();
    assert_eq!(s.len(), 4);
    s.compact().unwrap(); // erases all of B, switches into it
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(s.stats().active, twinkv_core::RegionId::B);
    assert_eq!(s.len(), 4);
    let mut buf = [0u8; 32];
    assert_eq!(s.get(&[b'k', 3], &mut buf).unwrap(), Some(16));
}

#[test]
fn unrecognised_bytes_alone_are_never_touched() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, config());
    rig.a.ram.data_mut()[..4].copy_from_slice(b"JUNK");
    let before = rig.snapshot();
    assert!(matches!(rig.open(), Err(Error::Unrecognised)));
    assert!(matches!(rig.open_read_only(), Err(Error::Unrecognised)));
    assert_eq!(rig.snapshot(), before);
}

#[test]
fn invalid_configuration_fails_at_construction() {
    let geo = Geometry {
        size: 1024,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 256,
    };
    let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
    let mk = |g: Geometry| {
        RamRegion::new(
            vec![0u8; RamRegion::<Vec<u8>>::storage_len_for(&g).max(len)],
            g,
        )
    };
    let open = |a: Geometry, b: Geometry, c: Config, scratch: usize| {
        let (Ok(ra), Ok(rb)) = (mk(a), mk(b)) else {
            return Err(Error::InvalidConfig);
        };
        Store::open(ra, rb, FixedIndex::<8>::new(), vec![0u8; scratch], c).map(|_| ())
    };
    let ok = config();
    assert_eq!(open(geo, geo, ok, 256), Ok(()));
    assert_eq!(
        open(geo, geo, ok.with_limits(8, 1000), 4096),
        Err(Error::InvalidConfig),
        "record > capacity × max-fill"
    );
    assert_eq!(
        open(geo, geo, ok.with_ratios(9500, 9000), 256),
        Err(Error::InvalidConfig)
    );
    assert_eq!(
        open(geo, geo, ok.with_ratios(0, 9000), 256),
        Err(Error::InvalidConfig)
    );
    assert_eq!(
        open(
            geo,
            Geometry {
                write_unit: 8,
                ..geo
            },
            ok,
            256
        ),
        Err(Error::InvalidConfig)
    );
    let needed = ok.scratch_len(geo.write_unit);
    assert_eq!(
        open(geo, geo, ok, 16),
        Err(Error::BufferTooSmall(needed)),
        "scratch too small: the error names the length needed"
    );
    assert_eq!(
        open(geo, geo, ok, needed - 1),
        Err(Error::BufferTooSmall(needed))
    );
    assert_eq!(open(geo, geo, ok, needed), Ok(()));
    assert_eq!(
        open(geo, geo, Config { store_id: 0, ..ok }, 256),
        Err(Error::InvalidConfig)
    );
}

/// A region that claims `size` bytes and holds none: any I/O fails the test.
struct Claims(u32);

impl Region for Claims {
    type Error = core::convert::Infallible;
    fn geometry(&self) -> Geometry {
        Geometry {
            size: self.0,
            read_unit: 1,
            write_unit: 4,
            erase_unit: 4096,
        }
    }
    fn persists_in_order(&self) -> bool {
        true
    }
    fn read(&mut self, offset: u32, _: &mut [u8]) -> Result<(), Self::Error> {
        panic!("read at {offset} of a region refused at construction")
    }
    fn program(&mut self, offset: u32, _: &[u8]) -> Result<(), Self::Error> {
        panic!("program at {offset} of a region refused at construction")
    }
    fn erase(&mut self, from: u32, _: u32) -> Result<(), Self::Error> {
        panic!("erase at {from} of a region refused at construction")
    }
    fn sync(&mut self) -> Result<(), Self::Error> {
        panic!("sync of a region refused at construction")
    }
}

/// Regions of more than 1 GiB are refused before anything is read (the
/// index keeps a record's offset in 30 bits; with larger regions a record
/// past 1 GiB read from the other region).
#[test]
fn a_region_larger_than_1_gib_is_refused_at_construction() {
    let too_large = twinkv_core::MAX_REGION_SIZE + 4096;
    for (a, b) in [
        (too_large, 1 << 20),
        (1 << 20, too_large),
        (too_large, too_large),
    ] {
        let r = Store::open(
            Claims(a),
            Claims(b),
            FixedIndex::<8>::new(),
            vec![0u8; 4096],
            config(),
        );
        assert!(matches!(r, Err(Error::InvalidConfig)), "{a} / {b}");
        assert_eq!(
            config().check_fit(Claims(a).geometry(), Claims(b).geometry()),
            Err(twinkv_core::ConfigError::RegionTooLarge)
        );
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Store<RamRegion<Vec<u8>>, FixedIndex<64>, Vec<u8>>>();
    send_sync::<RamRegion<Vec<u8>>>();
    send_sync::<Config>();
    send_sync::<Error<twinkv_core::RamError>>();
    send_sync::<twinkv_core::Stats>();
    send_sync::<FixedIndex<64>>();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Arbitrary bytes in both regions: open returns an error or a consistent
    /// store, never panics; a store it could not recognise is left unchanged;
    /// a store it opened keeps working.
    #[test]
    fn arbitrary_bytes_never_panic(
        w in prop::sample::select(vec![1u32, 4, 16]),
        a in prop::collection::vec(any::<u8>(), 0..1024),
        b in prop::collection::vec(any::<u8>(), 0..1024),
        erased_tail in any::<bool>(),
    ) {
        let power = Power::default();
        let mut rig = Rig::new(&power, 1024, w, config().adopting_store_id());
        rig.a.ram.data_mut()[..a.len()].copy_from_slice(&a);
        rig.b.ram.data_mut()[..b.len()].copy_from_slice(&b);
        if !erased_tail {
            rig.b.ram.data_mut()[1000..].fill(0);
        }
        let before = rig.snapshot();
        let _ = rig.open_read_only().map(|mut s| { let _ = s.for_each(|_, _| true); s.stats() });
        prop_assert_eq!(&rig.snapshot(), &before, "read-only open wrote");
        match rig.open() {
            Ok(mut s) => {
                let mut buf = [0u8; 64];
                for k in [&b"k"[..], b"key0", b"x"] {
                    let _ = s.get(k, &mut buf);
                }
                let _ = s.set(b"k", b"v");
                let _ = s.compact();
            }
            Err(Error::Unrecognised | Error::ForeignStore | Error::UnsupportedFormat | Error::ConfigMismatch | Error::Corrupted) => {
                prop_assert_eq!(&rig.snapshot(), &before, "refused storage was modified");
            }
            Err(e) => prop_assert!(false, "unexpected error {:?}", e),
        }
    }

    /// The same with a real store image as the start: a few random bytes
    /// changed anywhere.
    #[test]
    fn damaged_real_images_never_panic(edits in prop::collection::vec((0usize..2048, any::<u8>()), 1..8)) {
        let power = Power::default();
        let mut rig = populated(&power);
        rig.open().unwrap().compact().unwrap();
        for (at, v) in edits {
            let r = if at < 1024 { &mut rig.a } else { &mut rig.b };
            r.ram.data_mut()[at % 1024] = v;
        }
        if let Ok(mut s) = rig.open() {
            let mut buf = [0u8; 64];
            for i in 0..4u8 {
                let _ = s.get(&[b'k', i], &mut buf);
            }
            let _ = s.set(b"k9", b"v");
            let _ = s.compact();
        }
    }
}

/// `Store::format`: a valid store of this id is cleared (generation + 1,
/// never a restart); anything else is erased and formatted as generation 1.
#[test]
fn format_clears_our_store_and_erases_anything_else() {
    let power = Power::default();
    let mut rig = populated(&power);
    let generation = rig.open().unwrap().stats().generation;
    {
        let scratch = vec![0u8; 4096];
        let mut s = Store::format(
            &mut rig.a,
            &mut rig.b,
            FixedIndex::<64>::new(),
            scratch,
            rig.config,
        )
        .unwrap();
        assert!(s.is_empty());
        assert_eq!(
            s.stats().generation,
            generation + 1,
            "a clear, not a restart"
        );
        s.set(b"new", b"1").unwrap();
    }
    let active = {
        let s = rig.open().unwrap();
        assert_eq!(s.len(), 1);
        s.stats().active
    };
    // Unrecognised bytes where the newest region's header was: open refuses
    // and changes nothing; format erases. (Junk over the superseded region's
    // header alone opens: its markers still name it ours, FORMAT.md §8.)
    let r = match active {
        twinkv_core::RegionId::A => &mut rig.a,
        twinkv_core::RegionId::B => &mut rig.b,
    };
    r.ram.data_mut()[..4].copy_from_slice(b"JUNK");
    let before = rig.snapshot();
    assert!(rig.open().is_err());
    assert_eq!(rig.snapshot(), before);
    {
        let scratch = vec![0u8; 4096];
        let mut s = Store::format(
            &mut rig.a,
            &mut rig.b,
            FixedIndex::<64>::new(),
            scratch,
            rig.config,
        )
        .unwrap();
        assert_eq!(s.stats().generation, 1);
        assert!(s.is_empty());
        s.set(b"k", b"v").unwrap();
        s.compact().unwrap();
    }
    let mut s = rig.open().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(s.get(b"k", &mut buf).unwrap(), Some(1));
    // Another store id: formatted anew too.
    drop(s);
    rig.config = Config::new(0x7777).with_limits(8, 24);
    assert!(matches!(rig.open(), Err(Error::ForeignStore)));
    let scratch = vec![0u8; 4096];
    let s = Store::format(
        &mut rig.a,
        &mut rig.b,
        FixedIndex::<64>::new(),
        scratch,
        rig.config,
    )
    .unwrap();
    assert_eq!(
        (s.stats().generation, s.stats().store_id, s.len()),
        (1, 0x7777, 0)
    );
}
