//! Erase ahead (FORMAT.md §7.3): after a switch the old region is erased one
//! unit per write (or per `maintain` step), so that the next switch erases
//! nothing; a cut at any point of it recovers; the open table accepts a
//! partner erase ahead was erasing only when the active log says so (§8).

use std::cell::RefCell;

use twinkv_core::format::marker::Marker;
use twinkv_core::format::{Layout, Seal};
use twinkv_core::testkit::flash::{config, open, open_two, sim, FlashStore, Sim};
use twinkv_core::testkit::{
    check_store, power_lost, varied_key as key, varied_universe as universe, Model,
};
use twinkv_core::{Config, Error, TearMode};

const SIZE: u32 = 2048; // 8 erase units of 256 bytes per region
const KEYS: u8 = 8;

fn value(k: u8, n: u32) -> Vec<u8> {
    format!("v{k}.{n}").into_bytes()
}

/// Two flashes with a committed switch behind them: region B active
/// (generation 2), region A's used units pending for erase ahead.
fn switched<const W: usize>(cfg: Config) -> (RefCell<Sim<W>>, RefCell<Sim<W>>, Model) {
    let a = RefCell::new(sim::<W>(SIZE));
    let b = RefCell::new(sim::<W>(SIZE));
    let mut model = Model::new();
    {
        let mut s = open_two(&a, &b, cfg).unwrap();
        for k in 0..KEYS {
            s.set(&key(k), &value(k, 0)).unwrap();
            model.insert(key(k), value(k, 0));
        }
        // Fresh B was erased ahead by the writes (or is erased now).
        while s.maintain(1).unwrap() {}
        s.compact().unwrap();
        let st = s.stats();
        assert_eq!(st.generation, 2);
        assert!(st.erase_pending > 0, "A's used units are pending");
    }
    (a, b, model)
}

/// A cut at every program or erase call of the writes that erase region A
/// ahead, in three tear modes, with and without weak cells: the reopened
/// store holds every acknowledged write (the one in flight old or new), and
/// erase ahead and the next switch work from there. In ECC mode (`ecc`) a
/// torn unit, or a unit whose erase was cut, fails its reads. Returns the
/// cut points tried and the reads that failed.
fn cut_every_step<const W: usize>(ecc: bool) -> (u64, u64) {
    let cfg = config();
    // One flash, split in halves: one power supply for both regions.
    let flash0 = RefCell::new(sim::<W>(2 * SIZE));
    let mut model0 = Model::new();
    {
        let mut s = open(&flash0, cfg).unwrap();
        for k in 0..KEYS {
            s.set(&key(k), &value(k, 0)).unwrap();
            model0.insert(key(k), value(k, 0));
        }
        while s.maintain(1).unwrap() {}
        s.compact().unwrap();
        assert!(s.stats().erase_pending > 0);
    }
    let script: Vec<(u8, u32)> = (0..12u32)
        .map(|n| ((n % u32::from(KEYS)) as u8, n + 1))
        .collect();
    // Fault-free run: how many flash calls the script makes.
    let steps = {
        let flash = RefCell::new(flash0.borrow().clone());
        let mut s = open(&flash, cfg).unwrap();
        flash.borrow_mut().reset_steps();
        for &(k, n) in &script {
            s.set(&key(k), &value(k, n)).unwrap();
        }
        assert_eq!(
            s.stats().erase_pending,
            0,
            "12 writes erase the units ahead"
        );
        drop(s);
        let n = flash.borrow().steps_taken();
        n
    };
    let keys = universe(KEYS);
    let (mut cuts, mut failed_reads) = (0, 0);
    for c in 0..steps {
        for (mode, weak) in [
            (TearMode::Prefix, false),
            (TearMode::RandomBits, true),
            (TearMode::Subset, false),
        ] {
            let seed = c * 31 + W as u64;
            let flash = RefCell::new(flash0.borrow().clone());
            let mut model = model0.clone();
            let mut inflight = None;
            {
                let mut s = open(&flash, cfg).unwrap();
                {
                    let mut f = flash.borrow_mut();
                    f.set_weak_cells(weak.then_some(seed));
                    f.set_ecc(ecc);
                    f.cut_power_after(c, mode, seed);
                }
                for &(k, n) in &script {
                    let r = s.set(&key(k), &value(k, n));
                    if r.is_err() {
                        assert!(power_lost(&r), "W={W} cut {c}: {r:?}");
                        inflight = Some((k, n));
                        break;
                    }
                    model.insert(key(k), value(k, n));
                }
            }
            let Some((k, n)) = inflight else {
                panic!("W={W} cut {c}: the cut did not fire");
            };
            cuts += 1;
            flash.borrow_mut().restore_power();
            let ctx = format!("W={W} {mode:?} weak={weak} ecc={ecc} cut at step {c}");
            let mut s = open(&flash, cfg).unwrap_or_else(|e| panic!("{ctx}: reopen: {e:?}"));
            let mut buf = [0u8; 64];
            // The write in flight reads old or new; with weak cells its torn
            // record may also read one way at open and another later:
            // reported as corruption, never as a value it did not have.
            let keys: Vec<Vec<u8>> = match s.get(&key(k), &mut buf) {
                Ok(got) => {
                    if got.map(|l| &buf[..l]) == Some(&value(k, n)[..]) {
                        model.insert(key(k), value(k, n));
                    }
                    keys.clone()
                }
                Err(Error::Corrupted) if weak => {
                    model.remove(&key(k));
                    keys.iter().filter(|&x| *x != key(k)).cloned().collect()
                }
                Err(e) => panic!("{ctx}: get: {e:?}"),
            };
            let check = |s: &mut FlashStore<'_, W>, model: &Model, what: &str| {
                check_store(s, model, &keys)
                    .or_else(|e| {
                        if keys.len() < KEYS as usize && e.starts_with("len") {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .unwrap_or_else(|e| panic!("{ctx}: {what}: {e}"));
            };
            check(&mut s, &model, "reopen");
            // Finish erase ahead, switch, and read it all back.
            while s
                .maintain(1)
                .unwrap_or_else(|e| panic!("{ctx}: maintain: {e:?}"))
            {}
            s.compact()
                .unwrap_or_else(|e| panic!("{ctx}: compact: {e:?}"));
            drop(s);
            let mut s = open(&flash, cfg).unwrap_or_else(|e| panic!("{ctx}: second reopen: {e:?}"));
            check(&mut s, &model, "after a switch");
            failed_reads += flash.borrow().ecc_errors();
        }
    }
    (cuts, failed_reads)
}

#[test]
fn cut_at_every_step_of_erase_ahead() {
    let cuts = [
        cut_every_step::<1>(false),
        cut_every_step::<4>(false),
        cut_every_step::<16>(false),
        cut_every_step::<32>(false),
    ];
    assert!(cuts.iter().all(|&(c, _)| c >= 20), "{cuts:?}");
}

/// The same on a flash with ECC, at the write units with an ECC word.
#[test]
fn ecc_cut_at_every_step_of_erase_ahead() {
    let cuts = [
        cut_every_step::<8>(true),
        cut_every_step::<16>(true),
        cut_every_step::<32>(true),
    ];
    eprintln!("ECC (cut points tried, reads failed) at W = 8, 16, 32: {cuts:?}");
    assert!(cuts.iter().all(|&(c, f)| c >= 20 && f > 0), "{cuts:?}");
}

/// With erase ahead on (the default), no write erases more than one unit,
/// and a switch that comes after enough writes erases nothing.
#[test]
fn every_write_erases_at_most_one_unit_and_switches_erase_nothing() {
    let a = RefCell::new(sim::<4>(SIZE));
    let b = RefCell::new(sim::<4>(SIZE));
    let mut s = open_two(&a, &b, config()).unwrap();
    let mut switches_checked = 0;
    for n in 0..3000u32 {
        let k = (n % u32::from(KEYS)) as u8;
        let pending_before = s.stats().erase_pending;
        let switches = s.stats().switches;
        a.borrow_mut().reset_stats();
        b.borrow_mut().reset_stats();
        s.set(&key(k), &value(k, n)).unwrap();
        let erases = a.borrow().stats().erases + b.borrow().stats().erases;
        if s.stats().switches > switches {
            if pending_before == 0 {
                assert_eq!(
                    erases, 0,
                    "write {n}: a switch after erase ahead erases nothing"
                );
                switches_checked += 1;
            }
        } else {
            assert!(erases <= 1, "write {n}: {erases} erases");
        }
    }
    assert!(
        switches_checked >= 10,
        "{switches_checked} switches checked"
    );
}

/// `maintain` erases a bounded number of units, and a reopen resumes from
/// the progress the active log recorded (at most the unit being erased is
/// erased again).
#[test]
fn maintain_is_bounded_and_progress_survives_a_reopen() {
    let cfg = config().with_erase_ahead(false);
    let (a, b, model) = switched::<4>(cfg);
    let keys = universe(KEYS);
    let pending = {
        let mut s = open_two(&a, &b, cfg).unwrap();
        let p0 = s.stats().erase_pending;
        a.borrow_mut().reset_stats();
        assert!(s.maintain(2).unwrap());
        assert_eq!(a.borrow().stats().erases, 2);
        assert_eq!(s.stats().erase_pending, p0 - 2);
        // Writes do not erase with erase ahead off.
        s.set(&key(0), &value(0, 0)).unwrap();
        assert_eq!(a.borrow().stats().erases, 2);
        s.stats().erase_pending
    };
    let mut s = open_two(&a, &b, cfg).unwrap();
    assert_eq!(s.stats().erase_pending, pending, "progress was recorded");
    check_store(&mut s, &model, &keys).unwrap();
    a.borrow_mut().reset_stats();
    while s.maintain(1).unwrap() {}
    assert_eq!(a.borrow().stats().erases, u64::from(pending));
    assert!(
        a.borrow().as_bytes().iter().all(|&x| x == 0xFF),
        "A is erased"
    );
    a.borrow_mut().reset_stats();
    b.borrow_mut().reset_stats();
    s.compact().unwrap();
    assert_eq!(a.borrow().stats().erases + b.borrow().stats().erases, 0);
}

/// Erase ahead stopped just before the header unit, whose erase is then cut
/// leaving bytes no header reads from.
fn partner_header_garbled(pending_left: u32) -> (RefCell<Sim<4>>, RefCell<Sim<4>>, Model) {
    let cfg = config().with_erase_ahead(false);
    let (a, b, model) = switched::<4>(cfg);
    {
        let mut s = open_two(&a, &b, cfg).unwrap();
        while s.stats().erase_pending > pending_left {
            s.maintain(1).unwrap();
        }
    }
    // Half of the header unit erased, half not (as an erase cut short
    // leaves it): no header, no markers, not empty.
    let mut f = a.borrow_mut();
    f.data_mut()[..128].fill(0xFF);
    f.data_mut()[128..136].fill(0x00);
    drop(f);
    (a, b, model)
}

#[test]
fn unrecognised_partner_needs_an_erased_record() {
    let keys = universe(KEYS);
    // Erase ahead was erasing the header unit (1 pending): ours.
    let (a, b, model) = partner_header_garbled(1);
    let mut s = open_two(&a, &b, config()).unwrap();
    assert_eq!(s.stats().erase_pending, 1);
    check_store(&mut s, &model, &keys).unwrap();
    while s.maintain(1).unwrap() {}
    drop(s);
    assert!(a.borrow().as_bytes().iter().all(|&x| x == 0xFF));

    // Erase ahead had finished (nothing pending) and bytes appeared in the
    // partner's header area since: nothing proves they are ours (the log
    // says the partner was erased, not that these bytes came from us), so
    // open refuses and erases nothing.
    let (a, b, _) = partner_header_garbled(0);
    {
        let mut f = a.borrow_mut();
        f.data_mut()[..136].fill(0xFF);
        f.data_mut()[40..48].fill(0x00);
    }
    let before = a.borrow().as_bytes().to_vec();
    let r = open_two(&a, &b, config());
    assert!(matches!(r, Err(Error::Unrecognised)), "{:?}", r.err());
    assert_eq!(a.borrow().as_bytes(), &before[..]);

    // Bytes past the partner's header area, which open does not read when
    // the log says the partner is erased: damage in erased space, which
    // loses nothing; the next switch reads the units it will program and
    // erases the one that does not read erased.
    let (a, b, model) = partner_header_garbled(0);
    {
        let mut f = a.borrow_mut();
        f.data_mut()[..136].fill(0xFF);
        f.data_mut()[600..608].fill(0x00);
    }
    let mut s = open_two(&a, &b, config()).unwrap();
    assert_eq!(s.stats().erase_pending, 0);
    check_store(&mut s, &model, &keys).unwrap();
    s.compact().unwrap();
    check_store(&mut s, &model, &keys).unwrap();
    drop(s);
    let mut s = open_two(&a, &b, config()).unwrap();
    check_store(&mut s, &model, &keys).unwrap();

    // The partner's commit is valid for the next generation: the newest
    // state with a damaged header, never rolled back.
    let (a, b, _) = partner_header_garbled(1);
    {
        let commit = Layout::new(4).commit() as usize;
        let seal = Seal {
            store_id: config().store_id,
            generation: 3,
        };
        let m = Marker::Commit.encode(seal, 200);
        a.borrow_mut().data_mut()[commit..commit + m.len()].copy_from_slice(&m);
    }
    let r = open_two(&a, &b, config());
    assert!(matches!(r, Err(Error::Corrupted)), "{:?}", r.err());
}

/// On regions that do not persist in order (memory-mapped files) erase ahead
/// writes no progress records: one erase call per pending unit, and the log
/// does not grow.
#[test]
fn files_erase_ahead_writes_no_progress_records() {
    use twinkv_core::testkit::{Power, Rig};
    let power = Power::default();
    let cfg = Config::new(0xF11E)
        .with_limits(8, 24)
        .with_erase_ahead(false);
    let mut rig = Rig::new(&power, 4096, 4, cfg);
    rig.set_in_order(false);
    let mut s = rig.open().unwrap();
    for k in 0..20u8 {
        s.set(&[b'k', k], &[k; 20]).unwrap();
    }
    s.sync().unwrap();
    s.compact().unwrap();
    // A first format programs A as it read: never known erased past its
    // log, all 16 units of 256 bytes pending.
    let pending = s.stats().erase_pending;
    assert_eq!(pending, 16);
    let used = s.stats().used_bytes;
    power.reset_steps();
    while s.maintain(1).unwrap() {}
    assert_eq!(s.stats().used_bytes, used, "no progress records");
    assert_eq!(power.steps(), u64::from(pending), "one erase call per unit");
}

#[test]
fn a_failed_erase_leaves_the_unit_pending() {
    let (a, b, _) = switched::<4>(config());
    let mut s = open_two(&a, &b, config()).unwrap();
    let p = s.stats().erase_pending;
    a.borrow_mut().fail_next_erase();
    let r = s.set(&key(1), b"x");
    assert!(r.is_err(), "the erase failure reaches the caller");
    assert_eq!(s.stats().erase_pending, p);
    s.set(&key(1), b"y").unwrap();
    assert_eq!(s.stats().erase_pending, p - 1);
}

/// On regions that do not persist in order (memory-mapped files), a write
/// records once that nothing of the partner is pending when the active log
/// does not say so for the partner's size: after an open that read the
/// partner in full, or after the partner was replaced by a larger one
/// (`replace_inactive(.., true)`, as the host grows a store). The next open
/// then reads only the partner's header area (FORMAT.md §7.3); without the
/// record it reads all of it.
#[test]
fn files_record_an_erased_partner_so_that_the_next_open_reads_only_its_header() {
    use twinkv_core::{FixedIndex, Geometry, MappedRegion, RamRegion, RegionId, Store};
    type S = Store<RamRegion<Vec<u8>>, FixedIndex<64>, Vec<u8>>;
    // Write unit 4, erase units of 256 bytes, read unit 1; any size.
    const UNITS: Geometry = Geometry {
        size: 0,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 256,
    };
    let geo = |size| Geometry { size, ..UNITS };
    // A region holding `bytes`, erased past them, that does not persist in
    // order.
    let ram = |bytes: &[u8], size: u32| {
        let mut storage = vec![0xFFu8; RamRegion::<Vec<u8>>::storage_len(size, 4, 256)];
        storage[..bytes.len()].copy_from_slice(bytes);
        let mut r = RamRegion::with_contents(storage, geo(size)).unwrap();
        r.set_in_order(false);
        r
    };
    let config = Config::new(0xE5A).with_limits(8, 24);
    let scratch = || vec![0u8; S::scratch_len(&config, 4)];
    fn partner(s: &S) -> &RamRegion<Vec<u8>> {
        match s.stats().active {
            RegionId::A => s.regions().1,
            RegionId::B => s.regions().0,
        }
    }
    // Reopens `s`; returns it and the bytes its open read of the partner.
    let reopen = |s: S| -> (S, u64) {
        let (mut a, mut b, index, scr) = s.into_parts();
        a.reset_stats();
        b.reset_stats();
        let s = S::open(a, b, index, scr, config).unwrap();
        let read = partner(&s).stats().bytes_read;
        (s, read)
    };
    let check = |s: &mut S, n: u8| {
        for i in 0..n {
            let mut v = [0u8; 24];
            assert_eq!(s.get(&[b'k', i], &mut v).unwrap(), Some(20), "key {i}");
        }
    };

    let mut s = S::open(
        ram(&[], 2048),
        ram(&[], 2048),
        FixedIndex::new(),
        scratch(),
        config,
    )
    .unwrap();
    for i in 0..8u8 {
        s.set(&[b'k', i], &[i; 20]).unwrap();
    }
    s.compact().unwrap();
    while s.maintain(1).unwrap() {}
    assert_eq!(s.stats().erase_pending, 0);
    // The partner, erased ahead, replaced by a larger one: the log's erased
    // record names the old size. The next write records the new one, once.
    let bigger = ram(partner(&s).as_bytes(), 4096);
    s.replace_inactive(bigger, true).unwrap();
    let used = s.stats().used_bytes;
    s.set(&[b'k', 8], &[8; 20]).unwrap();
    let first = s.stats().used_bytes - used;
    let used = s.stats().used_bytes;
    s.set(&[b'k', 9], &[9; 20]).unwrap();
    let plain = s.stats().used_bytes - used;
    assert!(plain < first, "the erased record is written once");
    let (mut s, read) = reopen(s);
    assert!(read < 256, "only the header area read ({read} B)");
    check(&mut s, 10);

    // Without a write after the replacement, no record names its size: the
    // open reads all of it.
    let bigger = ram(partner(&s).as_bytes(), 8192);
    s.replace_inactive(bigger, true).unwrap();
    let (mut s, read) = reopen(s);
    assert!(read >= 8192, "read in full ({read} B)");
    check(&mut s, 10);
    // What that open read is recorded at the next write (when nothing is
    // pending, by this record; else before erase ahead touches the partner).
    s.set(&[b'k', 10], &[10; 20]).unwrap();
    while s.maintain(1).unwrap() {}
    let (mut s, read) = reopen(s);
    assert!(read < 256, "only the header area read ({read} B)");
    check(&mut s, 11);

    // Regions that persist in order (flash) write no such record: a write
    // there programs its own record only.
    let in_order = |mut r: RamRegion<Vec<u8>>| {
        r.set_in_order(true);
        r
    };
    let (a, b, index, scr) = s.into_parts();
    let mut s = S::open(in_order(a), in_order(b), index, scr, config).unwrap();
    let used = s.stats().used_bytes;
    s.set(&[b'k', 11], &[11; 20]).unwrap();
    assert_eq!(s.stats().used_bytes - used, plain, "no erased record");
}
