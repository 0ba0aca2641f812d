//! The double-buffer switch: the seed's example, the regressions of the
//! original implementation family, the trigger rule, a full store, and a cut
//! at every step of one switch (the rows of FORMAT.md §7.1).

use twinkv_core::testkit::*;
use twinkv_core::MappedRegion;
use twinkv_core::{Config, Error, Op, RamError, RegionId, TearMode};

fn get(s: &mut TestStore<'_, '_>, k: &[u8]) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    s.get(k, &mut buf).unwrap().map(|n| buf[..n].to_vec())
}

/// The seed's example: 1 KiB regions, 40 % high-water mark; writes until it
/// has switched A→B→A→B→A→B; every value correct after each switch and
/// after reopening at each point.
#[test]
fn seed_example_switches_a_b_a_b_a_b() {
    let power = Power::default();
    let config = Config::new(0x5EED)
        .with_limits(16, 32)
        .with_ratios(4000, 9000);
    let mut rig = Rig::new(&power, 1024, 4, config);
    let mut model = Model::new();
    let mut path = vec![RegionId::A];
    let keys = universe(0);
    for i in 0..200u32 {
        if path.len() == 6 {
            break;
        }
        let k = format!("setting-{}", i % 9).into_bytes();
        let v = format!("value-{i}").into_bytes();
        {
            let mut s = rig.open().unwrap();
            s.set(&k, &v).unwrap();
            model.insert(k, v);
            let active = s.stats().active;
            if active != *path.last().unwrap() {
                path.push(active);
            }
            check_store(&mut s, &model, &keys).unwrap();
        }
        let mut s = rig.open().unwrap();
        check_store(&mut s, &model, &keys).unwrap();
    }
    use RegionId::{A, B};
    assert_eq!(path, [A, B, A, B, A, B]);
}

/// Regression 1: clear / delete-all after a switch, then reopen: old data
/// must not come back.
#[test]
fn regression_clear_after_switch_old_data_never_returns() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(1).with_limits(8, 24));
    {
        let mut s = rig.open().unwrap();
        for i in 0..40u8 {
            s.set(&[b'k', i % 5], &[i; 20]).unwrap();
        }
        assert!(s.stats().switches > 0);
        s.clear().unwrap();
        assert!(s.is_empty());
    }
    let mut s = rig.open().unwrap();
    assert!(s.is_empty());
    for i in 0..5u8 {
        assert_eq!(get(&mut s, &[b'k', i]), None);
    }
    // Delete-all, switch, reopen.
    for i in 0..5u8 {
        s.set(&[b'k', i], b"again").unwrap();
    }
    s.compact().unwrap();
    for i in 0..5u8 {
        assert!(s.remove(&[b'k', i]).unwrap());
    }
    s.compact().unwrap();
    drop(s);
    let mut s = rig.open().unwrap();
    assert!(s.is_empty());
    for i in 0..5u8 {
        assert_eq!(get(&mut s, &[b'k', i]), None);
    }
}

/// Regression 2: live data above the high-water mark: writes that fit still
/// succeed, nothing wedges, and the switch count stays bounded.
#[test]
fn regression_live_data_above_high_water_no_wedge_bounded_switches() {
    let power = Power::default();
    // The bound counts the bytes the log takes: here the user's records
    // only, so no erase ahead (its erased records take log space too, and
    // FORMAT.md §7.1 counts them in N).
    let config = Config::new(2)
        .with_limits(8, 24)
        .with_ratios(8000, 9000)
        .with_erase_ahead(false);
    let mut rig = Rig::new(&power, 1024, 4, config);
    let mut s = rig.open().unwrap();
    let cap = s.stats().capacity;
    // 20 keys × 36 B = 720 B live: above 0.8 × 940 = 752? close; 21 keys: 756.
    let mut i = 0u32;
    while s.stats().live_bytes + 36 <= s.stats().fill_limit {
        s.set(format!("key{i:04}").as_bytes(), &[i as u8; 24])
            .unwrap();
        i += 1;
    }
    assert!(
        s.stats().live_bytes * 10 > cap * 8,
        "live data above the high-water mark"
    );
    let mut written = 0u64;
    let before = s.stats().switches;
    for n in 0..2000u32 {
        let k = format!("key{:04}", n % i);
        s.set(k.as_bytes(), &[n as u8; 24]).unwrap();
        written += 36;
    }
    let switches = u64::from(s.stats().switches - before);
    let bound = written / (u64::from(cap) - u64::from(twinkv_core::fill_limit(cap, 9000))) + 1;
    assert!(
        switches <= bound,
        "{switches} switches for {written} B, bound {bound}"
    );
    eprintln!(
        "live {} of capacity {cap}: {switches} switches for {written} B written (bound {bound})",
        s.stats().live_bytes
    );
}

/// The trigger rule over a long mixed workload: switches ≤ bytes written /
/// (capacity × (1 − max-fill)) + 1.
#[test]
fn switch_count_is_bounded_over_a_long_workload() {
    for (hw, mf) in [(8000, 9000), (4000, 9000), (9_999, 9_999), (9000, 9500)] {
        let power = Power::default();
        let mut rig = Rig::new(
            &power,
            2048,
            4,
            Config::new(3).with_limits(8, 24).with_ratios(hw, mf),
        );
        let mut s = rig.open().unwrap();
        let cap = s.stats().capacity;
        let before = rig_programmed(&s);
        for w in workload(3000, 12, 5, 24)
            .iter()
            .filter(|w| !matches!(w, Write::Compact | Write::Clear))
        {
            w.run(&mut s).unwrap();
        }
        let written = rig_programmed(&s) - before;
        let free = u64::from(cap - twinkv_core::fill_limit(cap, mf)).max(1);
        let bound = written / free + 1;
        let switches = u64::from(s.stats().switches);
        assert!(
            switches <= bound,
            "hw {hw} mf {mf}: {switches} switches, bound {bound}"
        );
    }
}

fn rig_programmed(s: &TestStore<'_, '_>) -> u64 {
    let (a, b) = s.regions();
    a.ram.stats().bytes_programmed + b.ram.stats().bytes_programmed
}

/// Regression 3: a write that ends exactly at the region's last byte.
#[test]
fn regression_write_ending_at_the_last_byte_reopens() {
    for w in [1, 4, 16, 32] {
        let power = Power::default();
        // The smallest headroom a configuration may have (a max-fill of
        // 1.0 is refused): the live data stays a byte short of the
        // capacity, so one overwritten record lets the log reach the last
        // byte. It and nothing else is garbage (erase ahead off: no erased
        // records), fewer bytes than a switch past high-water must free.
        let config = Config::new(4)
            .with_limits(8, 64)
            .with_ratios(9_999, 9_999)
            .with_erase_ahead(false);
        let mut rig = Rig::new(&power, 1024, w, config);
        let mut model = Model::new();
        {
            let mut s = rig.open().unwrap();
            s.set(b"kx", b"").unwrap();
            s.set(b"kx", b"").unwrap();
            model.insert(b"kx".to_vec(), Vec::new());
            let mut i = 0u8;
            loop {
                let free = s.stats().free_bytes;
                let rec = |v: u32| twinkv_core::format::record::stored_len(2, v, w).unwrap();
                if free == 0 {
                    break;
                }
                // Fill the last slot exactly.
                let v = if free <= rec(64) {
                    (0..=64).rev().find(|&v| rec(v) == free)
                } else {
                    Some(40)
                };
                let Some(v) = v else { break };
                s.set(&[b'k', i], &vec![i; v as usize]).unwrap();
                model.insert(vec![b'k', i], vec![i; v as usize]);
                i += 1;
                if s.stats().switches > 0 {
                    break;
                }
            }
            assert_eq!(
                s.stats().free_bytes,
                0,
                "W={w}: the log ends at the last byte"
            );
            assert_eq!(s.stats().switches, 0);
        }
        let mut s = rig.open().unwrap();
        check_store(&mut s, &model, &[]).unwrap();
        assert!(!s.stats().dirty_tail);
    }
}

/// Regression 4: reopening after a switch uses the newest region, not A.
#[test]
fn regression_reopen_after_switch_uses_newest_region() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(5).with_limits(8, 24));
    {
        let mut s = rig.open().unwrap();
        s.set(b"k", b"old").unwrap();
        s.compact().unwrap();
        s.set(b"k", b"new").unwrap();
        assert_eq!(s.stats().active, RegionId::B);
    }
    let mut s = rig.open().unwrap();
    assert_eq!(s.stats().active, RegionId::B);
    assert_eq!(get(&mut s, b"k").unwrap(), b"new");
}

/// Regression 5: opening existing regions never erases them.
#[test]
fn regression_opening_never_erases() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(6).with_limits(8, 24));
    {
        let mut s = rig.open().unwrap();
        for i in 0..30u8 {
            s.set(&[i % 4], &[i; 20]).unwrap();
        }
    }
    let before = rig.snapshot();
    let erases = rig.a.ram.stats().erases + rig.b.ram.stats().erases;
    for _ in 0..5 {
        let s = rig.open().unwrap();
        drop(s);
        let s = rig.open_read_only().unwrap();
        drop(s);
    }
    assert_eq!(rig.snapshot(), before);
    assert_eq!(rig.a.ram.stats().erases + rig.b.ram.stats().erases, erases);
}

/// Regression 6: a bit flip in the newest region's header after a switch:
/// open reports corruption, never the older state.
#[test]
fn regression_header_flip_in_newest_region_reports_corruption() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(7).with_limits(8, 24));
    {
        let mut s = rig.open().unwrap();
        s.set(b"k", b"old").unwrap();
        s.compact().unwrap();
        s.set(b"k", b"new").unwrap();
    }
    for bit in [0u32, 70, 130, 200, 383] {
        let saved = rig.snapshot();
        rig.b.ram.flip_bit(bit / 8, (bit % 8) as u8).unwrap();
        assert!(matches!(rig.open(), Err(Error::Corrupted)), "bit {bit}");
        assert!(
            matches!(rig.open_read_only(), Err(Error::Corrupted)),
            "bit {bit}"
        );
        assert_eq!(rig.snapshot().0, saved.0, "the older region is left alone");
        rig.b.ram.data_mut().copy_from_slice(&saved.1);
    }
}

/// A write that would push live data above capacity × max-fill is refused
/// before anything is erased or programmed; deletes, clears and overwrites
/// that do not grow the live data still succeed.
#[test]
fn full_store_refuses_for_free_and_stays_usable() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(8).with_limits(8, 24));
    let mut s = rig.open().unwrap();
    let mut i = 0u32;
    loop {
        match s.set(format!("k{i:03}").as_bytes(), &[7; 24]) {
            Ok(()) => i += 1,
            Err(Error::Full) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    let st = s.stats();
    assert!(
        st.live_bytes <= st.fill_limit && st.live_bytes + 36 > st.fill_limit,
        "max live data within one record of the limit"
    );
    let (a, b) = (s.regions().0.ram.stats(), s.regions().1.ram.stats());
    assert_eq!(s.set(b"new", &[1; 24]), Err(Error::Full));
    assert_eq!(
        s.apply(&[Op::Set(b"x1", b"1"), Op::Set(b"x2", &[2; 24])]),
        Err(Error::Full)
    );
    assert_eq!(
        (s.regions().0.ram.stats(), s.regions().1.ram.stats()),
        (a, b),
        "a rejected write costs nothing"
    );
    // Overwrites that do not grow, deletes and clear still work, many times.
    for n in 0..200u32 {
        s.set(format!("k{:03}", n % i).as_bytes(), &[n as u8; 24])
            .unwrap();
    }
    assert!(s.remove(b"k000").unwrap());
    s.set(b"new", &[1; 24]).unwrap();
    s.clear().unwrap();
    assert!(s.is_empty());
}

/// Oversized or empty input is an error that changes nothing.
#[test]
fn bad_input_changes_nothing() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(9).with_limits(8, 24));
    let mut s = rig.open().unwrap();
    s.set(b"k", b"v").unwrap();
    let st = (s.regions().0.ram.stats(), s.regions().1.ram.stats());
    assert_eq!(s.set(b"", b"v"), Err(Error::EmptyKey));
    assert_eq!(s.set(b"123456789", b"v"), Err(Error::KeyTooLarge));
    assert_eq!(s.set(b"k", &[0; 25]), Err(Error::ValueTooLarge));
    assert_eq!(
        s.apply(&[Op::Set(b"a", b"1"), Op::Set(b"b", &[0; 25])]),
        Err(Error::ValueTooLarge)
    );
    let mut small = [0u8; 0];
    assert_eq!(s.get(b"k", &mut small), Err(Error::BufferTooSmall(1)));
    assert_eq!(
        (
            s.regions().0.ram.stats().programs,
            s.regions().1.ram.stats().programs
        ),
        (st.0.programs, st.1.programs)
    );
    assert_eq!(get(&mut s, b"a"), None);
    // Empty values are allowed.
    s.set(b"e", b"").unwrap();
    assert_eq!(get(&mut s, b"e"), Some(vec![]));
}

/// An atomic batch folded into a switch, and one appended: all visible.
#[test]
fn batches_append_or_fold_atomically() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(10).with_limits(8, 24));
    let mut s = rig.open().unwrap();
    let mut n = 0u8;
    while s.stats().switches < 3 {
        s.apply(&[
            Op::Set(b"a", &[n; 20]),
            Op::Set(b"b", &[n; 10]),
            Op::Delete(b"c"),
            Op::Set(b"c", &[n]),
        ])
        .unwrap();
        n += 1;
    }
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"a").unwrap(), vec![n - 1; 20]);
    assert_eq!(get(&mut s, b"b").unwrap(), vec![n - 1; 10]);
    assert_eq!(get(&mut s, b"c").unwrap(), vec![n - 1]);
    assert_eq!(s.len(), 3);
}

/// Power lost during each step of one switch (FORMAT.md §7.1): before the
/// commit is valid, open sees the old state; after, the new one; open
/// finishes a missing "superseded"; the store always takes writes again.
#[test]
fn switch_cut_every_step() {
    let config = Config::new(11).with_limits(8, 24);
    for mode in [TearMode::Prefix, TearMode::Subset, TearMode::RandomBits] {
        for w in [1u32, 4, 32] {
            // Prepare: some data, the active region B with a used partner A.
            let setup = |rig: &mut Rig<'_>| {
                let mut s = rig.open().unwrap();
                for i in 0..12u8 {
                    s.set(&[b'k', i % 6], &[i; 20]).unwrap();
                }
                s.compact().unwrap();
                s.set(b"k0", b"latest").unwrap();
            };
            let total = {
                let power = Power::default();
                let mut rig = Rig::new(&power, 1024, w, config);
                setup(&mut rig);
                power.reset_steps();
                let mut s = rig.open().unwrap();
                s.set(b"folded", b"write").unwrap_or(());
                s.compact().unwrap();
                power.steps()
            };
            for cut in 0..total {
                let power = Power::default();
                let mut rig = Rig::new(&power, 1024, w, config);
                setup(&mut rig);
                let old_gen = rig.open().unwrap().stats().generation;
                power.cut_after(cut, mode, cut * 31 + u64::from(w));
                let acked = {
                    let mut s = rig.open().unwrap();
                    s.set(b"folded", b"write").is_ok() && s.compact().is_ok()
                };
                assert!(!acked || cut >= total, "cut {cut} of {total}");
                rig.restore();
                let mut s = rig
                    .open()
                    .unwrap_or_else(|e| panic!("W={w} {mode:?} cut {cut}: {e:?}"));
                let gen = s.stats().generation;
                assert!(
                    gen == old_gen || gen == old_gen + 1 || gen == old_gen + 2,
                    "W={w} cut {cut}"
                );
                assert_eq!(get(&mut s, b"k0").unwrap(), b"latest");
                let folded = get(&mut s, b"folded");
                assert!(folded.is_none() || folded.as_deref() == Some(&b"write"[..]));
                s.set(b"after", b"ok").unwrap();
                drop(s);
                let mut s = rig.open().unwrap();
                assert_eq!(get(&mut s, b"after").unwrap(), b"ok");
                assert!(!s.stats().unfinished_switch);
            }
        }
    }
}

/// A cut between the commit and "superseded": open finishes the switch
/// before acknowledging any write; read-only open reports it unfinished. A
/// torn "superseded" already counts as set (FORMAT.md §3).
#[test]
fn open_finishes_superseded() {
    let config = Config::new(12).with_limits(8, 24);
    let (mut erased_cases, mut torn_cases) = (0, 0);
    for seed in 0..40u64 {
        let power = Power::default();
        let mut rig = Rig::new(&power, 1024, 4, config);
        {
            let mut s = rig.open().unwrap();
            s.set(b"k", b"v").unwrap();
        }
        // Count the steps of a compaction on a copy, then cut inside the
        // "superseded" program (its last: one 12-byte marker = 3 units at W=4).
        let total = {
            let p = Power::default();
            let mut r = Rig::new(&p, 1024, 4, config);
            r.a.ram.data_mut().copy_from_slice(&rig.snapshot().0);
            let mut s = r.open().unwrap();
            p.reset_steps();
            s.compact().unwrap();
            p.steps()
        };
        power.cut_after(total - 3, TearMode::Prefix, seed);
        {
            let mut s = rig.open().unwrap();
            assert!(matches!(
                s.compact(),
                Err(Error::Region(RamError::PowerLost))
            ));
        }
        rig.restore();
        let slot_erased = rig.a.ram.as_bytes().to_vec()[72..84]
            .iter()
            .all(|&b| b == 0xFF);
        {
            let s = rig.open_read_only().unwrap();
            assert_eq!(s.stats().unfinished_switch, slot_erased);
            assert_eq!(s.stats().active, RegionId::B);
        }
        let programs = rig.a.ram.stats().programs;
        let mut s = rig.open().unwrap();
        let added = rig_a_programs(&s) - programs;
        assert_eq!(
            added,
            u64::from(slot_erased),
            "open programs \"superseded\" only when missing"
        );
        assert!(!s.stats().unfinished_switch);
        assert_eq!(get(&mut s, b"k").unwrap(), b"v");
        drop(s);
        assert!(!rig.open_read_only().unwrap().stats().unfinished_switch);
        if slot_erased {
            erased_cases += 1
        } else {
            torn_cases += 1
        }
    }
    assert!(
        erased_cases > 0 && torn_cases > 0,
        "{erased_cases} erased, {torn_cases} torn"
    );
}

fn rig_a_programs(s: &TestStore<'_, '_>) -> u64 {
    s.regions().0.ram.stats().programs
}

/// A full index is an error that changes nothing; overwrites still work.
#[test]
fn full_index_refuses_new_keys_without_writing() {
    use twinkv_core::{FixedIndex, Store};
    let (ra, rb) = twinkv_core::testkit::ram_pair(2048, 256);
    let mut s = Store::open(
        ra,
        rb,
        FixedIndex::<4>::new(),
        vec![0u8; 256],
        Config::new(13).with_limits(8, 24),
    )
    .unwrap();
    for i in 0..4u8 {
        s.set(&[i], b"v").unwrap();
    }
    let programs = s.regions().0.stats().programs;
    assert_eq!(s.set(b"x", b"v"), Err(Error::IndexFull));
    assert_eq!(
        s.apply(&[Op::Set(b"y", b"1"), Op::Set(b"z", b"2")]),
        Err(Error::IndexFull)
    );
    assert_eq!(s.regions().0.stats().programs, programs);
    s.set(&[0], b"overwrite").unwrap();
    assert!(s.remove(&[1]).unwrap());
    s.set(b"x", b"now fits").unwrap();
    assert_eq!(s.len(), 4);
}

/// On a region that does not persist in order, the write whose copy slice
/// ends an incremental switch leaves its commit to the next write
/// (FORMAT.md §7.4). A write refused then (here `IndexFull`) writes
/// nothing and leaves the commit pending; the next accepted write commits
/// first, syncing once, and its own record goes to the new region.
#[test]
fn a_refused_write_leaves_a_prepared_commit_alone() {
    use twinkv_core::{FixedIndex, RamRegion, Store};
    let (mut ra, mut rb) = twinkv_core::testkit::ram_pair(1024, 256);
    ra.set_in_order(false);
    rb.set_in_order(false);
    let config = Config::new(31).with_limits(8, 24);
    let mut s = Store::open(ra, rb, FixedIndex::<4>::new(), vec![0u8; 256], config).unwrap();
    for i in 0..4u8 {
        s.set(&[i], b"v").unwrap();
    }
    let mut n = 0u32;
    while !s.stats().commit_pending {
        n += 1;
        assert!(n < 2000, "no switch prepared");
        s.set(&[(n % 4) as u8], format!("v{n}").as_bytes()).unwrap();
    }
    let counts = |s: &Store<RamRegion<Vec<u8>>, FixedIndex<4>, Vec<u8>>| {
        let (a, b) = s.regions();
        let (a, b) = (a.stats(), b.stats());
        (
            a.programs + b.programs,
            a.erases + b.erases,
            a.syncs + b.syncs,
        )
    };
    let before = counts(&s);
    let generation = s.stats().generation;
    assert_eq!(s.set(b"x", b"v"), Err(Error::IndexFull));
    assert_eq!(
        s.apply(&[Op::Set(b"y", b"1"), Op::Set(b"z", b"2")]),
        Err(Error::IndexFull)
    );
    assert_eq!(counts(&s), before, "a refused write wrote");
    assert!(s.stats().commit_pending);
    assert_eq!(s.stats().generation, generation);
    s.set(&[0], b"after").unwrap();
    let after = counts(&s);
    assert_eq!(after.2 - before.2, 1, "the commit syncs once");
    let st = s.stats();
    assert_eq!(st.generation, generation + 1);
    assert!(!st.commit_pending && !st.switching);
    let mut buf = [0u8; 24];
    assert_eq!(s.get(&[0], &mut buf).unwrap(), Some(5));
    assert_eq!(&buf[..5], b"after");
}

/// Whole switches that fold a single set or delete (no batch key tracking:
/// one op is the last on its key) and batches with repeated keys, with the
/// index full (a batch cannot stage its keys there) and with room: every
/// value right after each write and after a reopen.
#[test]
fn folded_single_writes_and_batches_with_a_full_index() {
    use std::collections::BTreeMap;
    use twinkv_core::{FixedIndex, Index, Store};
    fn run<I: Index>(index: I) {
        let (ra, rb) = twinkv_core::testkit::ram_pair(1024, 256);
        let config = Config::new(21)
            .with_limits(8, 24)
            .with_incremental_switch(false);
        let mut s = Store::open(ra, rb, index, vec![0u8; 256], config).unwrap();
        let mut model = BTreeMap::new();
        let check = |s: &mut Store<_, I, Vec<u8>>, model: &BTreeMap<Vec<u8>, Vec<u8>>| {
            for k in 0..4u8 {
                let mut buf = [0u8; 24];
                let got = s.get(&[k], &mut buf).unwrap().map(|n| buf[..n].to_vec());
                assert_eq!(got.as_ref(), model.get(&vec![k]), "key {k}");
            }
        };
        for i in 0..400u32 {
            let k = (i % 4) as u8;
            let v = format!("value {i:>6}").into_bytes();
            if i % 37 == 36 {
                // A batch that repeats its key: the last op wins.
                let other = ((i + 1) % 4) as u8;
                s.apply(&[
                    Op::Set(&[k], b"first"),
                    Op::Delete(&[other]),
                    Op::Set(&[k], &v),
                ])
                .unwrap();
                model.remove(&vec![other]);
                model.insert(vec![k], v);
            } else if i % 11 == 10 {
                s.remove(&[k]).unwrap();
                model.remove(&vec![k]);
            } else {
                s.set(&[k], &v).unwrap();
                model.insert(vec![k], v);
            }
            check(&mut s, &model);
        }
        assert!(s.stats().switches >= 10, "{} switches", s.stats().switches);
        let (ra, rb, mut index, scratch) = s.into_parts();
        index.clear();
        let mut s = Store::open(ra, rb, index, scratch, config).unwrap();
        check(&mut s, &model);
    }
    run(FixedIndex::<4>::new());
    run(FixedIndex::<64>::new());
}

/// Found by fuzzing: after a reopen, the old region's used extent was taken
/// from which erase units read non-erased; a unit holding only 0xFF data
/// bytes was skipped, and the next switch programmed it a second time.
#[test]
fn switch_after_reopen_erases_units_of_ff_data() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, Config::new(7).with_limits(16, 128));
    {
        let mut s = rig.open().unwrap();
        s.set(b"a", &[1; 71]).unwrap();
        s.set(b"b", &[2; 71]).unwrap();
        // 84 + 80 + 80 = 244: this record's key runs from 252 to 267, so the
        // erase unit 256..512 holds only 0xFF bytes that were programmed.
        s.set(&[0xFF; 15], b"").unwrap();
        s.compact().unwrap(); // B active; A holds a unit of 0xFF data
    }
    let mut s = rig.open().unwrap();
    s.compact().unwrap(); // into A: must erase 256..512 too
    s.compact().unwrap();
    let mut buf = [0u8; 128];
    assert_eq!(s.get(&[0xFF; 15], &mut buf).unwrap(), Some(0));
    assert_eq!(s.get(b"a", &mut buf).unwrap(), Some(71));
}

/// Found by fuzzing: entries a switch did not copy (dropped tombstones,
/// records dropped by repair) kept offsets into the old region, and one that
/// landed on a record in the new region survived: a deleted key came back.
#[test]
fn uncopied_entries_never_survive_a_switch() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, 4, Config::new(8).with_limits(8, 24));
    let mut s = rig.open().unwrap();
    for round in 0..50u8 {
        for k in 0..6u8 {
            s.set(&[b'k', k], &[round; 12]).unwrap();
        }
        for k in 0..6u8 {
            if (k + round) % 3 == 0 {
                assert!(s.remove(&[b'k', k]).unwrap());
            }
        }
        s.compact().unwrap();
        let mut seen = 0;
        s.for_each(|_, _| {
            seen += 1;
            true
        })
        .unwrap();
        assert_eq!(seen, s.len(), "round {round}");
    }
}

/// `Store::replace_inactive`: a larger region in place of the inactive one
/// (its old bytes, erased past them) takes the next switch; the fill limit
/// follows the smaller region until both are larger; refusals change
/// nothing.
#[test]
fn replace_inactive_grows_the_store_in_place() {
    use twinkv_core::{FixedIndex, Geometry, MappedRegion, RamRegion, Region, Store};
    type S = Store<RamRegion<Vec<u8>>, FixedIndex<64>, Vec<u8>>;
    let geo = |size| Geometry {
        size,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 256,
    };
    let ram = |size: u32| {
        RamRegion::new(
            vec![0u8; RamRegion::<Vec<u8>>::storage_len(size, 4, 256)],
            geo(size),
        )
        .unwrap()
    };
    let config = Config::new(0x6A0).with_limits(8, 24);
    let scratch = || vec![0u8; S::scratch_len(&config, 4)];
    let mut s = S::open(ram(1024), ram(1024), FixedIndex::new(), scratch(), config).unwrap();
    for i in 0..8u8 {
        s.set(&[b'k', i], &[i; 20]).unwrap();
    }
    let limit = s.stats().fill_limit;
    // Other units are refused, and nothing changes.
    let other = RamRegion::new(
        vec![0u8; RamRegion::<Vec<u8>>::storage_len(2048, 8, 256)],
        Geometry {
            write_unit: 8,
            ..geo(2048)
        },
    )
    .unwrap();
    assert!(matches!(
        s.replace_inactive(other, true),
        Err(Error::ConfigMismatch)
    ));
    // The inactive region, extended to 4 KiB.
    let inactive = match s.stats().active {
        twinkv_core::RegionId::A => s.regions().1,
        twinkv_core::RegionId::B => s.regions().0,
    };
    let mut bytes = inactive.as_bytes().to_vec();
    bytes.resize(4096, 0xFF);
    let mut buf = vec![0u8; RamRegion::<Vec<u8>>::storage_len(4096, 4, 256)];
    buf[..4096].copy_from_slice(&bytes);
    let bigger = RamRegion::with_contents(buf, geo(4096)).unwrap();
    let old = s.replace_inactive(bigger, true).unwrap();
    assert_eq!(old.geometry().size, 1024);
    assert_eq!(
        s.stats().fill_limit,
        limit,
        "the smaller region still bounds it"
    );
    s.compact().unwrap();
    assert_eq!(
        s.stats().capacity,
        4096 - 84,
        "the switch went into the larger region"
    );
    for i in 0..8u8 {
        let mut v = [0u8; 32];
        assert_eq!(s.get(&[b'k', i], &mut v).unwrap(), Some(20));
    }
    // Reopen with regions of different sizes: all there.
    let (a, b, index, scr) = s.into_parts();
    let mut s = S::open(a, b, index, scr, config).unwrap();
    for i in 0..8u8 {
        let mut v = [0u8; 32];
        assert_eq!(s.get(&[b'k', i], &mut v).unwrap(), Some(20));
    }
}
