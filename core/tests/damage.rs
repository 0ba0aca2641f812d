//! Damage: torn tails, mid-log bit flips, keys that must keep reporting
//! corruption across switches, and exhaustive single-bit flips.

use twinkv_core::testkit::asynch::Front;
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, Op, TearMode};

fn config() -> Config {
    // The offsets below assume records back to back: no erase ahead.
    Config::new(0xDA3A)
        .with_limits(8, 24)
        .with_erase_ahead(false)
}

fn get(
    s: &mut TestStore<'_, '_>,
    k: &[u8],
) -> Result<Option<Vec<u8>>, Error<twinkv_core::RamError>> {
    let mut buf = [0u8; 32];
    s.get(k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()))
}

/// Cut at every write unit of one appended record, in every tear mode: the
/// record is absent or complete, never garbage; a torn one leaves a dirty
/// tail, and the next write switches instead of programming over it.
#[test]
fn cut_at_every_unit_of_a_record_each_tear_mode() {
    let mut cases = 0;
    for w in [1, 4, 16] {
        for mode in [TearMode::Prefix, TearMode::Subset, TearMode::RandomBits] {
            for seed in 0..4u64 {
                let units = twinkv_core::format::record::stored_len(1, 24, w).unwrap() / w;
                for cut in 0..units as u64 {
                    let power = Power::default();
                    let mut rig = Rig::new(&power, 1024, w, config());
                    {
                        let mut s = rig.open().unwrap();
                        s.set(b"a", b"first").unwrap();
                        s.set(b"b", b"second").unwrap();
                        power.cut_after(cut, mode, seed * 1000 + cut);
                        let r = s.set(b"a", b"0123456789abcdefghijklmn");
                        assert!(r.is_err(), "W={w} cut {cut}: the record has {units} units");
                    }
                    rig.restore();
                    let mut s = rig.open().unwrap();
                    let a = get(&mut s, b"a").unwrap().unwrap();
                    assert!(
                        a == b"first" || a == b"0123456789abcdefghijklmn",
                        "W={w} {mode:?} cut {cut}: {a:?}"
                    );
                    assert_eq!(get(&mut s, b"b").unwrap().unwrap(), b"second");
                    let st = s.stats();
                    // The torn record starts after the two complete ones.
                    let rec =
                        |k: u32, v: u32| twinkv_core::format::record::stored_len(k, v, w).unwrap();
                    let at = (84u32.div_ceil(w) * w).max(if w >= 8 { 96 } else { 84 })
                        + rec(1, 5)
                        + rec(1, 6);
                    let at = if w == 32 {
                        160 + rec(1, 5) + rec(1, 6)
                    } else {
                        at
                    };
                    let len = rec(1, 24);
                    let touched = {
                        use twinkv_core::MappedRegion;
                        rig_bytes_touched(s.regions().0.ram.as_bytes(), at, len)
                    };
                    let complete = a == b"0123456789abcdefghijklmn";
                    assert_eq!(
                        st.dirty_tail,
                        touched && !complete,
                        "W={w} {mode:?} cut {cut}: touched={touched}"
                    );
                    let dirty = st.dirty_tail;
                    s.set(b"c", b"third").unwrap();
                    assert_eq!(
                        s.stats().switches,
                        u32::from(dirty),
                        "a dirty tail is never appended to"
                    );
                    drop(s);
                    let mut s = rig.open().unwrap();
                    assert_eq!(get(&mut s, b"c").unwrap().unwrap(), b"third");
                    assert!(!s.stats().dirty_tail);
                    cases += 1;
                }
            }
        }
    }
    eprintln!("{cases} torn-record cases");
}

/// A bit flip in an old record with intact records after it: the later
/// records survive, the damaged key reports corruption (never an older
/// value), and keeps doing so across switches until it is overwritten.
#[test]
fn mid_log_bit_flip_keeps_later_records_and_reports_the_key() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, 4, config());
    let off_of_second;
    {
        let mut s = rig.open().unwrap();
        s.set(b"temp", b"20").unwrap();
        off_of_second = s.stats().used_bytes + 84;
        s.set(b"temp", b"21").unwrap(); // the newest record of "temp": damaged below
        s.set(b"mode", b"eco").unwrap();
        s.set(b"fan", b"2").unwrap();
    }
    // Flip a bit in the value of the second record (header 8 + key 4 → value).
    rig.a.ram.flip_bit(off_of_second + 12, 3).unwrap();
    let mut s = rig.open().unwrap();
    assert_eq!(s.stats().damage_found_at_open, 1);
    assert!(
        !s.stats().dirty_tail,
        "damage before intact records is mid-log, not a tail"
    );
    assert_eq!(
        get(&mut s, b"temp"),
        Err(Error::Corrupted),
        "never the older value 20"
    );
    assert_eq!(get(&mut s, b"mode").unwrap().unwrap(), b"eco");
    assert_eq!(get(&mut s, b"fan").unwrap().unwrap(), b"2");
    assert_eq!(s.stats().damaged_keys, 1);
    // Across switches the key keeps reporting corruption.
    s.compact().unwrap();
    s.compact().unwrap();
    assert_eq!(get(&mut s, b"temp"), Err(Error::Corrupted));
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"temp"), Err(Error::Corrupted));
    assert_eq!(get(&mut s, b"mode").unwrap().unwrap(), b"eco");
    // Until it is overwritten.
    s.set(b"temp", b"22").unwrap();
    assert_eq!(get(&mut s, b"temp").unwrap().unwrap(), b"22");
    s.compact().unwrap();
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"temp").unwrap().unwrap(), b"22");
    assert_eq!(get(&mut s, b"mode").unwrap().unwrap(), b"eco");
    // The damaged record's key is known only by its 8-bit hash: absent keys
    // with that hash keep reporting corruption until `repair`.
    assert_eq!(s.stats().damaged_keys, 1);
    assert_eq!(s.repair().unwrap(), 1);
    assert_eq!(s.stats().damaged_keys, 0);
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(s.stats().damaged_keys, 0);
    assert_eq!(get(&mut s, b"temp").unwrap().unwrap(), b"22");
}

#[test]
fn repair_drops_damaged_records_after_listing() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, 4, config());
    {
        let mut s = rig.open().unwrap();
        s.set(b"temp", b"21").unwrap();
        s.set(b"mode", b"eco").unwrap();
    }
    rig.a.ram.flip_bit(84 + 12, 0).unwrap();
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"temp"), Err(Error::Corrupted));
    s.compact().unwrap(); // now a keyed damaged record
    assert_eq!(get(&mut s, b"temp"), Err(Error::Corrupted));
    assert!(s.repair().unwrap() >= 1);
    assert_eq!(get(&mut s, b"temp"), Ok(None));
    assert_eq!(get(&mut s, b"mode").unwrap().unwrap(), b"eco");
    assert_eq!(s.stats().damaged_keys, 0);
}

#[test]
fn damaged_key_cleared_by_delete_stays_deleted_across_switches() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, 4, config());
    {
        let mut s = rig.open().unwrap();
        s.set(b"temp", b"21").unwrap();
        s.set(b"mode", b"eco").unwrap();
    }
    rig.a.ram.flip_bit(84 + 12, 0).unwrap();
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"temp"), Err(Error::Corrupted));
    assert!(
        !s.remove(b"temp").unwrap(),
        "a corrupted key had no readable value"
    );
    assert_eq!(get(&mut s, b"temp"), Ok(None));
    s.compact().unwrap();
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"temp"), Ok(None));
    assert_eq!(get(&mut s, b"mode").unwrap().unwrap(), b"eco");
}

/// A damaged header (the key is unknown) with intact records after it:
/// every key older than the gap reports corruption; newer ones are fine.
#[test]
fn damaged_header_mid_log_is_a_gap_of_unknown_keys() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, 4, config());
    {
        let mut s = rig.open().unwrap();
        s.set(b"old", b"1").unwrap(); // at 84, 12 bytes
        s.set(b"temp", b"21").unwrap(); // at 96: its header is damaged below
        s.set(b"new", b"3").unwrap();
        // A batch (its begin is a record of another kind than set and
        // delete) proves `new` was no batch whose begin the gap took
        // (FORMAT.md §6.2, unproven records).
        s.apply(&[Op::Set(b"pa", b"4"), Op::Set(b"pb", b"5")])
            .unwrap();
    }
    rig.a.ram.flip_bit(96, 6).unwrap(); // key length bits of the header
    let mut s = rig.open().unwrap();
    assert!(s.stats().damage_found_at_open >= 1);
    assert_eq!(
        get(&mut s, b"old"),
        Err(Error::Corrupted),
        "may have been overwritten in the gap"
    );
    assert_eq!(get(&mut s, b"temp"), Err(Error::Corrupted));
    assert_eq!(get(&mut s, b"absent"), Err(Error::Corrupted));
    assert_eq!(get(&mut s, b"new").unwrap().unwrap(), b"3");
    assert_eq!(get(&mut s, b"pa").unwrap().unwrap(), b"4");
}

/// Every single-bit flip in the used bytes of the active region, before open:
/// open reports it, `get` reports corruption, or the flip is harmless — no
/// `get` ever returns a value that was not the newest acknowledged one,
/// except the newest record itself turning into a (reported) dirty tail.
#[test]
fn every_single_bit_flip_is_detected_or_harmless() {
    every_single_bit_flip(Front::Blocking);
}

/// The same, each damaged image opened by the async store.
#[test]
fn every_single_bit_flip_is_detected_or_harmless_through_the_async_store() {
    every_single_bit_flip(Front::Async);
}

/// Builds with the blocking store; every damaged image is opened through
/// `front`.
fn every_single_bit_flip(front: Front) {
    let (mut flips, mut detected, mut harmless) = (0u32, 0u32, 0u32);
    for w in [1, 4, 32] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 2048, w, config());
        let mut model = Model::new();
        let wl = workload(40, 6, 7, 20);
        let mut last_key = None;
        {
            let mut s = rig.open().unwrap();
            for op in &wl {
                op.run(&mut s).unwrap();
                op.apply_to(&mut model);
                if let Write::Set(k, _) | Write::Delete(k) = op {
                    last_key = Some(k.clone());
                }
            }
        }
        let keys = universe(6);
        let (image_a, image_b) = rig.snapshot();
        let active_is_a = rig.open().unwrap().stats().active == twinkv_core::RegionId::A;
        let used_end = {
            let s = rig.open().unwrap();
            let st = s.stats();
            84 + st.used_bytes
                + if w == 32 {
                    76
                } else if w >= 8 {
                    12
                } else {
                    0
                }
        };
        for bit in 0..used_end * 8 {
            rig.a.ram.data_mut().copy_from_slice(&image_a);
            rig.b.ram.data_mut().copy_from_slice(&image_b);
            let region = if active_is_a { &mut rig.a } else { &mut rig.b };
            region.ram.flip_bit(bit / 8, (bit % 8) as u8).unwrap();
            flips += 1;
            let mut s = match rig.open_read_only_as(front) {
                Ok(s) => s,
                Err(Error::Corrupted) => {
                    detected += 1;
                    continue;
                }
                Err(e) => panic!("{front:?} W={w} bit {bit}: open {e:?}"),
            };
            let st = s.stats();
            let mut reported = st.damage_found_at_open > 0 || st.dirty_tail;
            let mut wrong = None;
            for k in &keys {
                let mut buf = [0u8; 32];
                match s.get(k, &mut buf) {
                    Err(Error::Corrupted) => reported = true,
                    Ok(v) => {
                        let v = v.map(|n| buf[..n].to_vec());
                        if v.as_ref() != model.get(k) {
                            wrong = Some((k.clone(), v));
                        }
                    }
                    Err(e) => panic!("{front:?} W={w} bit {bit}: get {e:?}"),
                }
            }
            if let Some((k, v)) = wrong {
                // Only the newest record may fall back, and only as a
                // reported dirty tail (FORMAT.md §6.2).
                assert!(
                    st.dirty_tail && Some(&k) == last_key.as_ref(),
                    "{front:?} W={w} bit {bit}: key {k:?} silently read {v:?}, model {:?}",
                    model.get(&k)
                );
            }
            if reported {
                detected += 1;
            } else {
                harmless += 1;
            }
        }
    }
    eprintln!("{front:?}: {flips} single-bit flips: {detected} detected, {harmless} harmless (padding, slack, marker pad)");
}

fn rig_bytes_touched(bytes: &[u8], at: u32, len: u32) -> bool {
    bytes[at as usize..(at + len) as usize]
        .iter()
        .any(|&b| b != 0xFF)
}

/// A record whose body reached the medium but whose header did not (a tear
/// that programmed only later bytes): a dirty tail, never data, never
/// programmed over.
#[test]
fn body_programmed_header_erased_is_a_dirty_tail() {
    for w in [1u32, 4, 16] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 1024, w, config());
        let image;
        {
            let mut s = rig.open().unwrap();
            s.set(b"a", b"first").unwrap();
            let end = 1024 - s.stats().free_bytes;
            // Encode the record a set would append and program its body only.
            let mut rec = [0u8; 64];
            let seal = twinkv_core::format::Seal {
                store_id: 0xDA3A,
                generation: 1,
            };
            let hash = twinkv_core::format::short_hash(twinkv_core::format::key_hash(b"a"));
            let n = twinkv_core::format::record::encode(
                &mut rec,
                seal,
                twinkv_core::format::Kind::Set,
                hash,
                b"a",
                b"second value",
                w,
            )
            .unwrap();
            image = Some((end, rec[..n as usize].to_vec()));
        }
        let (end, rec) = image.unwrap();
        let hl = 8usize.div_ceil(w as usize) * w as usize;
        rig.a.ram.data_mut()[end as usize + hl..end as usize + rec.len()]
            .copy_from_slice(&rec[hl..]);
        let mut s = rig.open().unwrap();
        assert_eq!(get(&mut s, b"a").unwrap().unwrap(), b"first", "W={w}");
        assert!(s.stats().dirty_tail, "W={w}");
        s.set(b"b", b"x").unwrap(); // switches: the torn bytes are never programmed over
        assert_eq!(s.stats().switches, 1);
        drop(s);
        let mut s = rig.open().unwrap();
        assert_eq!(get(&mut s, b"a").unwrap().unwrap(), b"first");
        assert_eq!(get(&mut s, b"b").unwrap().unwrap(), b"x");
    }
}

/// A region whose unit at `weak` was torn by an earlier cut yet reads as
/// erased (weakly programmed NOR cells): programming over it garbles a bit.
struct WeakUnit {
    ram: twinkv_core::RamRegion<Vec<u8>>,
    weak: u32,
}

impl twinkv_core::Region for WeakUnit {
    type Error = twinkv_core::RamError;
    fn geometry(&self) -> twinkv_core::Geometry {
        self.ram.geometry()
    }
    fn persists_in_order(&self) -> bool {
        true
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        self.ram.read(offset, buf)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        let mut d = data.to_vec();
        if (offset..offset + data.len() as u32).contains(&self.weak) {
            d[(self.weak - offset) as usize] &= 0x7F;
        }
        self.ram.program(offset, &d)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if (from..to).contains(&self.weak) {
            self.weak = u32::MAX; // an erase heals it
        }
        self.ram.erase(from, to)
    }
    fn sync(&mut self) -> Result<(), Self::Error> {
        self.ram.sync()
    }
}

/// A write that lands on a weak unit does not read back as written: it is
/// never acknowledged from there; the store switches and writes it again.
#[test]
fn program_that_does_not_read_back_is_redone_by_a_switch() {
    use twinkv_core::{FixedIndex, Geometry, RamRegion, Store};
    let geo = Geometry {
        size: 1024,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 256,
    };
    let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
    let mk = |weak| WeakUnit {
        ram: RamRegion::new(vec![0u8; len], geo).unwrap(),
        weak,
    };
    let mut a = mk(u32::MAX);
    let mut b = mk(u32::MAX);
    // Format first (it erases A), then a unit of A goes weak: the second
    // record starts at 84 + 16; one of its value bytes lands there.
    drop(
        Store::open(
            &mut a,
            &mut b,
            FixedIndex::<8>::new(),
            vec![0u8; 256],
            config(),
        )
        .unwrap(),
    );
    a.weak = 84 + 16 + 8 + 1 + 2;
    let mut s = Store::open(
        &mut a,
        &mut b,
        FixedIndex::<8>::new(),
        vec![0u8; 256],
        config(),
    )
    .unwrap();
    s.set(b"a", b"first11").unwrap();
    s.set(b"b", b"\xFF\xFF\xFF\xFF\xFF").unwrap();
    assert_eq!(
        s.stats().switches,
        1,
        "the garbled append was redone in the other region"
    );
    let mut buf = [0u8; 32];
    assert_eq!(s.get(b"b", &mut buf).unwrap(), Some(5));
    assert_eq!(&buf[..5], b"\xFF\xFF\xFF\xFF\xFF");
    drop(s);
    let mut s = Store::open(
        &mut a,
        &mut b,
        FixedIndex::<8>::new(),
        vec![0u8; 256],
        config(),
    )
    .unwrap();
    assert_eq!(s.get(b"b", &mut buf).unwrap(), Some(5));
    assert_eq!(s.get(b"a", &mut buf).unwrap(), Some(7));
}

/// Iteration does not skip damaged keys silently.
#[test]
fn iteration_reports_damaged_keys() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, 4, config());
    {
        let mut s = rig.open().unwrap();
        s.set(b"victim", b"v1").unwrap();
        s.set(b"bystand", b"b").unwrap();
    }
    rig.a.ram.flip_bit(84 + 8 + 6 + 1, 2).unwrap();
    let mut s = rig.open().unwrap();
    let mut seen = vec![];
    let r = s.for_each(|k, _| {
        seen.push(k.to_vec());
        true
    });
    assert_eq!(r, Err(Error::Corrupted));
    assert_eq!(seen, vec![b"bystand".to_vec()]);
    s.compact().unwrap(); // now a keyed damaged record plus a hash entry
    seen.clear();
    let r = s.for_each(|k, _| {
        seen.push(k.to_vec());
        true
    });
    assert_eq!(r, Err(Error::Corrupted));
    assert_eq!(seen, vec![b"bystand".to_vec()]);
    drop(s);
    // The mapped iterator yields an error in the damaged key's place.
    let mut ram_a = rig.a.ram.clone();
    let mut ram_b = rig.b.ram.clone();
    let s = twinkv_core::Store::open_read_only(
        &mut ram_a,
        &mut ram_b,
        twinkv_core::FixedIndex::<64>::new(),
        vec![0u8; 256],
        config(),
    )
    .unwrap();
    let items: Vec<_> = s.iter_ref().collect();
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(items.iter().any(|r| matches!(r, Err(Error::Corrupted))));
}
