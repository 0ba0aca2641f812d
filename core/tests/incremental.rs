//! The incremental switch (FORMAT.md §7.4): past the high-water mark the
//! live records are copied a slice per write while the old region takes the
//! writes; reads, deletes, batches, `compact`, `clear`, `repair` and
//! `maintain` during the copy; the per-write bound on bytes programmed and
//! erase units; a cut at every flash call of a whole incremental switch,
//! begun at high-water or late (FORMAT.md §7.1).

use std::cell::RefCell;

use twinkv_core::testkit::asynch::{DynStore, Front};
use twinkv_core::testkit::flash::{config, open, open_as, sim, FlashStore, Sim, StoreError};
use twinkv_core::testkit::{
    check_store, recover, resume_at, run_until_cut, varied_key as key, varied_universe as universe,
    KvStore, Model, Write,
};
use twinkv_core::{Config, FlashError, Op, RegionId, Reprogram, SimError, TearMode};

/// The store these tests run, on a flash of write unit 4.
type Store4<'a> = FlashStore<'a, 4>;
/// Its flash.
type Sim4 = Sim<4>;

const SIZE: u32 = 2048; // per region: 8 erase units of 256 bytes
const KEYS: u8 = 28; // live data ~1.3 KiB of a 1964-byte capacity

fn value(k: u8, n: u32) -> Vec<u8> {
    let mut v = format!("v{k}.{n}").into_bytes();
    v.resize(1 + (n as usize * 7 + usize::from(k)) % 30, b'=');
    v
}

/// A write of the mixed workload the tests below run: mostly sets, some
/// deletes and batches.
fn write_at(n: u32) -> Write {
    write_of(n, KEYS)
}

/// [`write_at`] over `keys` keys.
fn write_of(n: u32, keys: u8) -> Write {
    let k = ((n * 7 + n / 5) % u32::from(keys)) as u8;
    match n % 23 {
        5 | 17 => Write::Delete(key(k)),
        11 => Write::Batch(vec![
            (key(k), Some(value(k, n))),
            (key((k + 1) % keys), None),
            (key((k + 2) % keys), Some(value(k + 2, n))),
        ]),
        _ => Write::Set(key(k), value(k, n)),
    }
}

/// Fewer keys: about 500 live bytes, so that the late switch point
/// (FORMAT.md §7.1) lies past high-water (with `KEYS` it is high-water
/// itself) and a copy still spans writes.
const FEW: u8 = 12;

/// Every write of a long mixed workload, checked against the model after
/// each write: reads during the copy (keys copied, not yet copied, copied
/// then written again, deleted) answer as the model does, and so does a
/// reopen at any point, including mid-copy.
#[test]
fn reads_and_writes_during_the_copy_follow_the_model() {
    let flash = RefCell::new(sim::<4>(2 * SIZE));
    let keys = universe(KEYS);
    let mut model = Model::new();
    let (mut began, mut seen_switching, mut reopened_mid_copy) = (0, 0, 0);
    let mut s = open(&flash, config()).unwrap();
    for n in 0..1500u32 {
        let before = s.stats();
        let w = write_at(n);
        w.run(&mut s)
            .unwrap_or_else(|e| panic!("write {n} {w:?}: {e:?}"));
        w.apply_to(&mut model);
        let st = s.stats();
        if st.switching {
            seen_switching += 1;
            if !before.switching {
                began += 1;
            }
        }
        check_store(&mut s, &model, &keys).unwrap_or_else(|e| panic!("write {n}: {e}"));
        if n % 97 == 0 || (st.switching && n % 7 == 0) {
            reopened_mid_copy += u32::from(st.switching);
            drop(s);
            s = open(&flash, config()).unwrap();
            check_store(&mut s, &model, &keys).unwrap_or_else(|e| panic!("reopen {n}: {e}"));
        }
    }
    println!(
        "incremental switches that spanned writes: {began}; writes during copies: {seen_switching}"
    );
    assert!(began > 10, "switches that began incrementally: {began}");
    assert!(
        seen_switching > began,
        "writes during copies: {seen_switching}"
    );
    assert!(reopened_mid_copy > 0, "no reopen landed mid-copy");
}

/// Runs the mixed workload from write 0 until a switch is under way after a
/// write (its copy spans writes); returns the next write's number.
fn until_switching(s: &mut Store4<'_>, model: &mut Model) -> u32 {
    let mut n = 0;
    while !s.stats().switching {
        let w = write_at(n);
        w.run(s).unwrap();
        w.apply_to(model);
        n += 1;
        assert!(n < 2000, "no incremental switch began");
    }
    n
}

/// `compact`, `clear`, `repair`, `maintain` and `sync` while a copy is
/// under way: each ends it (or finishes it in idle time) with the model
/// intact.
#[test]
fn every_call_can_meet_a_copy_under_way() {
    let keys = universe(KEYS);
    for action in 0..5 {
        let flash = RefCell::new(sim::<4>(2 * SIZE));
        let mut model = Model::new();
        let mut s = open(&flash, config()).unwrap();
        until_switching(&mut s, &mut model);
        let generation = s.stats().generation;
        match action {
            0 => s.compact().unwrap(),
            1 => {
                s.clear().unwrap();
                model = Model::new();
            }
            2 => assert_eq!(s.repair().unwrap(), 0),
            3 => {
                let mut calls = 0;
                while s.maintain(1).unwrap() {
                    calls += 1;
                    assert!(calls < 100, "maintain never finishes");
                }
            }
            _ => {
                s.sync().unwrap();
                assert!(s.stats().switching, "sync does not end a copy");
                continue;
            }
        }
        let st = s.stats();
        assert!(
            !st.switching && st.generation > generation,
            "{action}: {st:?}"
        );
        check_store(&mut s, &model, &keys).unwrap_or_else(|e| panic!("{action}: {e}"));
        drop(s);
        let mut s = open(&flash, config()).unwrap();
        check_store(&mut s, &model, &keys).unwrap_or_else(|e| panic!("{action} reopened: {e}"));
    }
}

/// The bound of FORMAT.md §7.4: no write erases more than one erase unit,
/// and none programs more than `L + L / (1 − max-fill) + R` plus marker
/// bytes, over a workload of many switches. With the one-shot switch, the
/// writes that switch program the whole live state and erase up to the
/// whole region.
#[test]
fn every_write_stays_within_the_bound() {
    let cfg = config();
    let worst = bound_run(cfg, KEYS, 0);
    let (worst_bytes, worst_erases) = (worst.bytes, worst.erases);
    // The late switch, on few keys, with and without reboots (a reboot
    // during a copy leaves the units it programmed to erase again, one per
    // write, within the headroom the switch point keeps for that).
    for reopen_every in [0, 37] {
        let late = bound_run(cfg, FEW, reopen_every);
        assert!(late.late_begins > 10, "{late:?}");
        let early = bound_run(cfg.with_late_switch(false), FEW, reopen_every);
        if reopen_every == 0 {
            // (After a reboot during a copy, a switch at high-water begins
            // again past it, once erase ahead has erased the target.)
            assert_eq!(early.late_begins, 0, "{early:?}");
        }
        assert!(
            late.switches < early.switches,
            "late {late:?} early {early:?}"
        );
        println!("few keys, reopen every {reopen_every}: late {late:?}; at high-water {early:?}");
    }
    // The one-shot switch, for comparison: its worst write erases several
    // units and programs the live state.
    let flash = RefCell::new(sim::<4>(2 * SIZE));
    let cfg1 = cfg.with_incremental_switch(false).with_erase_ahead(false);
    let mut s = open(&flash, cfg1).unwrap();
    let (mut one_shot_bytes, mut one_shot_erases) = (0u64, 0u64);
    for n in 0..4000u32 {
        let k = (n % u32::from(KEYS)) as u8;
        flash.borrow_mut().reset_stats();
        s.set(&key(k), &value(k, n)).unwrap();
        let st = flash.borrow().stats();
        one_shot_bytes = one_shot_bytes.max(st.bytes_programmed);
        one_shot_erases = one_shot_erases.max(st.erases);
    }
    assert!(one_shot_erases > 1 && one_shot_bytes > worst_bytes);
    println!(
        "worst write: incremental {worst_bytes} B programmed, {worst_erases} erase units; \
         one-shot {one_shot_bytes} B, {one_shot_erases} units"
    );
}

/// The worst write of [`bound_run`].
#[derive(Debug)]
struct Worst {
    bytes: u64,
    erases: u64,
    switches: u32,
    /// Switches that began past the high-water mark.
    late_begins: u32,
}

/// 4,000 sets over `keys` keys on the flash of these tests, reopening the
/// store after every `reopen_every`-th (0: never). Checks the bound of
/// FORMAT.md §7.4 on every write (no write erases more than one erase unit,
/// none programs more than `L + L / (1 − max-fill) + R` plus marker bytes)
/// and the model at the end; returns the worst write.
fn bound_run(cfg: Config, keys: u8, reopen_every: u32) -> Worst {
    let (w, d) = (4u64, 84u64);
    let r = u64::from(cfg.max_record_len(4).unwrap());
    let erased = 16u64;
    let mf = u64::from(cfg.max_fill_bp);
    let flash = RefCell::new(sim::<4>(2 * SIZE));
    let mut s = open(&flash, cfg).unwrap();
    let hw = s.stats().capacity * u32::from(cfg.high_water_bp) / 10_000;
    let mut model = Model::new();
    let mut worst = Worst {
        bytes: 0,
        erases: 0,
        switches: 0,
        late_begins: 0,
    };
    let mut excess = 0i64;
    for n in 0..4000u32 {
        let k = (n % u32::from(keys)) as u8;
        let v = value(k, n);
        let l = (8 + key(k).len() as u64 + v.len() as u64).div_ceil(w) * w;
        let before = s.stats();
        flash.borrow_mut().reset_stats();
        s.set(&key(k), &v).unwrap();
        model.insert(key(k), v);
        let st = flash.borrow().stats();
        let after = s.stats();
        // A switch began (and may have ended in the same write) though
        // the log was past high-water before this write already.
        let began = !before.switching && (after.switching || after.generation != before.generation);
        if began && before.used_bytes > hw {
            worst.late_begins += 1;
        }
        // Markers: header area (when a switch begins), erased records (two
        // of erase ahead's, or the one a switch's end writes), commit and
        // superseded markers (within the header area's bound).
        let bound = l + l * 10_000 / (10_000 - mf) + 1 + r + d + 2 * erased;
        worst.bytes = worst.bytes.max(st.bytes_programmed);
        worst.erases = worst.erases.max(st.erases);
        excess = excess.max(st.bytes_programmed as i64 - bound as i64);
        if reopen_every > 0 && n % reopen_every == 0 {
            drop(s);
            s = open(&flash, cfg).unwrap();
        }
    }
    check_store(&mut s, &model, &universe(keys)).unwrap();
    worst.switches = s.stats().generation as u32 - 1;
    assert!(worst.switches > 50, "{worst:?}");
    assert!(worst.erases <= 1, "a write erased {} units", worst.erases);
    assert!(
        excess <= 0,
        "a write programmed {excess} bytes over the bound"
    );
    worst
}

/// A cut at every flash call of a script that runs whole incremental
/// switches (its begin, the copy slices, a delete and a batch during the
/// copy, its end), in three tear modes: the reopened store holds every
/// acknowledged write (the one in flight old or new), and the script goes
/// on from there. (Weak cells under a torn record are the subject of
/// `erase_ahead` and `power_cut`: such a record may read one way at open
/// and another later, reported as corruption; a copy's own records are in
/// the uncommitted target, and its commit is read four times, §3.)
fn cut_every_step<const W: usize>(n_keys: u8, cfg: Config) -> (u64, u32) {
    let keys = universe(n_keys);
    let wl: Vec<Write> = (0..160u32).map(|n| write_of(n, n_keys)).collect();
    let mut late = 0;
    let steps = {
        let flash = RefCell::new(sim::<W>(2 * SIZE));
        flash.borrow_mut().reset_steps();
        let mut model = Model::new();
        let mut began = 0;
        let mut s = open(&flash, cfg).unwrap();
        let hw = s.stats().capacity * u32::from(cfg.high_water_bp) / 10_000;
        for w in &wl {
            let was = s.stats();
            w.run(&mut s).unwrap();
            w.apply_to(&mut model);
            let now = s.stats();
            let begins = !was.switching && now.switching;
            began += u32::from(begins);
            let switched = !was.switching && (now.switching || now.generation != was.generation);
            late += u32::from(switched && was.used_bytes > hw);
        }
        drop(s);
        assert!(
            began >= 2,
            "W = {W}: the script begins {began} incremental switches"
        );
        let steps = flash.borrow().steps_taken();
        steps
    };
    let mut tried = 0;
    for step in 1..=steps {
        for mode in [TearMode::Prefix, TearMode::RandomBits, TearMode::Subset] {
            let flash = RefCell::new(sim::<W>(2 * SIZE));
            flash.borrow_mut().cut_power_after(step, mode, step);
            let mut model = Model::new();
            let cut = run_until_cut(open(&flash, cfg), &wl, 0, &mut model);
            let Some(inflight) = cut else { continue };
            flash.borrow_mut().restore_power();
            let ctx = format!("W = {W}, cut at step {step} ({mode:?})");
            let (mut model, _) = recover(
                open(&flash, cfg),
                &wl,
                &model,
                Some(inflight).filter(|&i| i != usize::MAX),
                &keys,
                &ctx,
            );
            // The rest of the script runs on the recovered store.
            let start = resume_at(inflight, 0);
            let again = run_until_cut(open(&flash, cfg), &wl, start, &mut model);
            assert!(again.is_none(), "{ctx}: a second cut");
            let mut s = open(&flash, cfg).unwrap();
            check_store(&mut s, &model, &keys).unwrap_or_else(|e| panic!("{ctx}: end: {e}"));
            tried += 1;
        }
    }
    (tried, late)
}

#[test]
fn a_cut_at_every_step_of_incremental_switches_recovers() {
    let tried = [
        cut_every_step::<4>(KEYS, config()),
        cut_every_step::<16>(KEYS, config()),
    ];
    println!("cut points tried, switches begun past high-water (W = 4, 16): {tried:?}");
    assert!(tried.iter().all(|&(t, _)| t > 500), "{tried:?}");
}

/// The same with a high-water mark of 0.5, where switches begin late
/// (FORMAT.md §7.1; at 0.8 the late point of this workload is high-water
/// itself): the cut lands in copies that begin with only the headroom the
/// copy needs left.
#[test]
fn a_cut_at_every_step_of_late_switches_recovers() {
    let cfg = config().with_ratios(5000, 9000);
    let tried = [
        cut_every_step::<4>(KEYS, cfg),
        cut_every_step::<16>(KEYS, cfg),
    ];
    println!("cut points tried, switches begun past high-water (W = 4, 16): {tried:?}");
    assert!(
        tried.iter().all(|&(t, late)| t > 500 && late >= 2),
        "{tried:?}"
    );
}

/// The inactive region cannot be replaced while a switch copies into it
/// (the host grows a store that way): refused, nothing changed.
#[test]
fn replace_inactive_waits_for_the_switch() {
    let flash = RefCell::new(sim::<4>(2 * SIZE));
    let spare = RefCell::new(sim::<4>(SIZE));
    let keys = universe(KEYS);
    let mut model = Model::new();
    let mut s = open(&flash, config()).unwrap();
    until_switching(&mut s, &mut model);
    let region = twinkv_core::SharedFlashRegion::whole(&spare).unwrap();
    assert_eq!(
        s.replace_inactive(region, false).err(),
        Some(twinkv_core::Error::SwitchUnderWay)
    );
    assert!(s.stats().switching);
    check_store(&mut s, &model, &keys).unwrap();
    while s.maintain(1).unwrap() {}
    check_store(&mut s, &model, &keys).unwrap();
}

/// Batches that fold into the end of a copy because the active log cannot
/// take them still commit atomically with the copy.
#[test]
fn a_batch_the_active_log_cannot_take_ends_the_copy() {
    let flash = RefCell::new(sim::<4>(2 * SIZE));
    let keys = universe(KEYS);
    let mut model = Model::new();
    let mut s = open(&flash, config()).unwrap();
    let mut n = until_switching(&mut s, &mut model);
    let generation = s.stats().generation;
    // Batches until the switch ends; each is all-or-nothing.
    while s.stats().switching {
        let ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..4u8)
            .map(|i| {
                let k = (n as u8 + i) % KEYS;
                (key(k), (i != 2).then(|| value(k, n)))
            })
            .collect();
        let batch: Vec<Op<'_>> = twinkv_core::testkit::batch_ops(&ops);
        s.apply(&batch).unwrap();
        Write::Batch(ops.clone()).apply_to(&mut model);
        check_store(&mut s, &model, &keys).unwrap();
        n += 1;
    }
    assert!(s.stats().generation > generation);
    drop(s);
    let mut s = open(&flash, config()).unwrap();
    check_store(&mut s, &model, &keys).unwrap();
}

/// Where `needle` lies in `bytes[range]`, as absolute offsets.
fn find_in(bytes: &[u8], range: std::ops::Range<usize>, needle: &[u8]) -> Option<usize> {
    bytes[range.clone()]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| range.start + at)
}

/// A key whose newest record is a copy in the target, damaged while the
/// store is open (one bit of the copy's key bytes or header), then deleted:
/// the delete must reach the active log. It is the write's own record of
/// the key there; a delete skipped as "absent" (the damaged copy's entry no
/// longer matched the key) left the active log's older record as the key's
/// newest, and a reboot before the commit brought its value back (fuzz
/// finding `zeroed-unit-in-b-resurrects-a-deleted-key`). Every bit of the
/// copy's short header and first key byte is tried, the delete alone or in
/// a batch; after the reboot the
/// key reads absent or `Corrupted`, never its value, and every other key
/// follows the model.
#[test]
fn a_delete_of_a_key_whose_copy_was_damaged_is_not_skipped() {
    let keys = universe(KEYS);
    let mut tried = 0;
    for byte in 0..9u32 {
        for bit in [0u8, 5] {
            let flash = RefCell::new(sim::<4>(2 * SIZE));
            let mut model = Model::new();
            let mut s = open(&flash, config()).unwrap();
            let mut n = until_switching(&mut s, &mut model);
            let target = if s.stats().active == RegionId::A {
                SIZE as usize..2 * SIZE as usize
            } else {
                0..SIZE as usize
            };
            // A key whose newest value has been copied (the copy is the
            // record the index names: its key and value in the target).
            let copied = loop {
                let bytes = flash.borrow().as_bytes().to_vec();
                let hit = model.iter().find_map(|(k, v)| {
                    let rec = [k.as_slice(), v.as_slice()].concat();
                    find_in(&bytes, target.clone(), &rec).map(|at| (k.clone(), at))
                });
                if let Some(hit) = hit {
                    break hit;
                }
                let w = write_at(n);
                w.run(&mut s).unwrap();
                w.apply_to(&mut model);
                n += 1;
                assert!(
                    s.stats().switching,
                    "the copy ended before a key was copied"
                );
            };
            let (key, key_at) = copied;
            // The short header's 8 bytes precede the key.
            let at = (key_at - 8) as u32 + byte;
            flash.borrow_mut().flip_bit(at, bit).unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(
                s.get(&key, &mut buf),
                Err(twinkv_core::Error::Corrupted),
                "byte {byte} bit {bit}: the damaged copy reads corrupted"
            );
            if bit == 0 {
                s.remove(&key).unwrap();
            } else {
                // In a batch, with a delete of a key that has no value.
                s.apply(&[Op::Delete(&key), Op::Delete(b"no-such-key")])
                    .unwrap();
            }
            model.remove(&key);
            assert!(s.stats().switching, "the delete ended the copy");
            // A reboot before the commit: the target is discarded.
            drop(s);
            let mut s = open(&flash, config()).unwrap();
            match s.get(&key, &mut buf) {
                Ok(None) | Err(twinkv_core::Error::Corrupted) => {}
                r => panic!("byte {byte} bit {bit}: the deleted key reads {r:?} after a reboot"),
            }
            let others: Vec<Vec<u8>> = keys.iter().filter(|k| **k != key).cloned().collect();
            check_store(&mut s, &model, &others)
                .unwrap_or_else(|e| panic!("byte {byte} bit {bit}: {e}"));
            tried += 1;
        }
    }
    assert_eq!(tried, 18);
}

/// Keys of the in-session damage tests below: `0..20` are set to `value-1`
/// at the start, `20..28` take the writes that carry a switch.
fn damage_key(k: u8) -> Vec<u8> {
    format!("session-key-{k:02}").into_bytes()
}

/// A store on fresh flash with keys `0..20` set to `value-1`, and the
/// offset of key `victim`'s bytes in the flash image (its only record).
fn twenty_keys(flash: &RefCell<Sim4>, victim: u8) -> (Store4<'_>, u32) {
    let mut s = open(flash, config()).unwrap();
    for k in 0..20 {
        s.set(&damage_key(k), b"value-1").unwrap();
    }
    let bytes = flash.borrow().as_bytes().to_vec();
    let victim = damage_key(victim);
    let at = bytes
        .windows(victim.len())
        .position(|w| w == victim.as_slice())
        .unwrap();
    (s, at as u32)
}

/// Runs one switch to its commit: `compact`, or (`incremental`) writes to
/// keys `20..28` until an incremental switch commits.
fn switch_once<S: KvStore + ?Sized>(s: &mut S, incremental: bool, ctx: &str) {
    let switches = s.stats().switches;
    if !incremental {
        s.compact().unwrap();
        return;
    }
    let mut n = 0u32;
    while s.stats().switches == switches {
        let k = 20 + (n % 8) as u8;
        s.set(&damage_key(k), format!("filler-{n}").as_bytes())
            .unwrap();
        n += 1;
        assert!(n < 5000, "{ctx}: no switch");
    }
}

/// Writes `value-2` to keys `0..20` in turn until the store has switched to
/// B and erase ahead has erased all of A. Returns how many were written
/// (keys `0..n.min(20)` hold `value-2`).
fn erase_a_ahead<S: KvStore + ?Sized>(s: &mut S, ctx: &str) -> u32 {
    let mut n = 0u32;
    while s.stats().active == RegionId::A || s.stats().erase_pending > 0 {
        s.set(&damage_key((n % 20) as u8), b"value-2").unwrap();
        n += 1;
        assert!(n < 5000, "{ctx}: A not erased ahead");
    }
    n
}

/// [`twenty_keys`] through either store (`front`), without the offset.
fn twenty_keys_as(front: Front, flash: &RefCell<Sim4>) -> DynStore<'_, FlashError<SimError>> {
    let mut s = open_as::<4>(front, flash, config()).unwrap();
    for k in 0..20 {
        s.set(&damage_key(k), b"value-1").unwrap();
    }
    s
}

/// Key `k`'s value (`None`: absent) or error.
fn read_key<S: KvStore<E = FlashError<SimError>> + ?Sized>(
    s: &mut S,
    k: u8,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut buf = [0u8; 16];
    s.get(&damage_key(k), &mut buf)
        .map(|n| n.map(|n| buf[..n].to_vec()))
}

/// Sets keys `0..20` to `value-3`, each write acknowledged.
fn rewrite<S: KvStore + ?Sized>(s: &mut S) {
    for k in 0..20 {
        s.set(&damage_key(k), b"value-3").unwrap();
    }
}

/// Every key of `0..20` reads `value-3`.
fn all_rewritten<S: KvStore<E = FlashError<SimError>> + ?Sized>(s: &mut S, ctx: &str) {
    for k in 0..20 {
        let want = Ok(Some(b"value-3".to_vec()));
        assert_eq!(read_key(s, k), want, "{ctx}: key {k}");
    }
}

/// [`rewrite`]s, drops the store and reopens it: every key must read
/// `value-3`. Returns the reopened store and the region that was active
/// before the drop.
fn rewrite_and_reopen<'a>(
    flash: &'a RefCell<Sim4>,
    mut s: Store4<'a>,
    ctx: &str,
) -> (Store4<'a>, RegionId) {
    rewrite(&mut s);
    let active = s.stats().active;
    drop(s);
    let mut s = open(flash, config()).unwrap();
    all_rewritten(&mut s, ctx);
    (s, active)
}

/// Checks keys `0..20` other than `victim`: each reads `value-1`, or
/// `Corrupted` where a keyless damage record of its 8-bit key hash covers
/// it. Returns how many read `Corrupted`.
fn others_intact_or_covered(s: &mut Store4<'_>, victim: u8, ctx: &str) -> usize {
    let mut covered = 0;
    for k in (0..20).filter(|&k| k != victim) {
        match read_key(s, k) {
            Ok(Some(v)) if v == b"value-1" => {}
            Err(twinkv_core::Error::Corrupted) => covered += 1,
            r => panic!("{ctx}: key {k} reads {r:?}"),
        }
    }
    covered
}

/// A key written (set or deleted) after its record was damaged while the
/// store is open: the write's record is indexed beside the damaged one's
/// entry (the damaged one may be another key's), and the switch copies the
/// damaged one first, as a keyless damage record, so that it does not cover
/// the write's copy: the acknowledged, intact write reads as written after
/// the switch and after a reopen. Before, in the index's scrambled copy
/// order, 6 of 20 keys read `Corrupted` after `compact`. Every one of 20
/// keys, each write kind, each switch kind (`compact`, or an incremental
/// switch that writes to other keys carry to its commit). Other keys keep
/// their values or, when they share the damaged record's 8-bit key hash and
/// were copied before it, read `Corrupted`, as after a reopen that finds
/// the damaged record.
#[test]
fn a_write_after_in_session_damage_survives_the_next_switch() {
    let (mut cases, mut covered) = (0, 0);
    for victim in 0..20u8 {
        for delete in [false, true] {
            for incremental in [false, true] {
                let ctx = format!("victim {victim} delete {delete} incremental {incremental}");
                let flash = RefCell::new(sim::<4>(2 * SIZE));
                let (mut s, at) = twenty_keys(&flash, victim);
                // Damage one bit of the victim's key bytes: its entry no
                // longer matches it.
                flash.borrow_mut().flip_bit(at + 9, 0).unwrap();
                let want = if delete {
                    s.remove(&damage_key(victim)).unwrap();
                    None
                } else {
                    s.set(&damage_key(victim), b"value-2").unwrap();
                    Some(b"value-2".to_vec())
                };
                switch_once(&mut s, incremental, &ctx);
                assert_eq!(
                    read_key(&mut s, victim),
                    Ok(want.clone()),
                    "{ctx}: after the switch"
                );
                drop(s);
                let mut s = open(&flash, config()).unwrap();
                assert_eq!(read_key(&mut s, victim), Ok(want), "{ctx}: after a reopen");
                covered += others_intact_or_covered(&mut s, victim, &ctx);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 80);
    println!("other keys covered by the damage record's key hash: {covered} of 1520");
}

/// A record whose header no longer reads (one bit of its 8 header bytes
/// flipped while the store is open) stops neither an iteration (every other
/// key is visited, then `Corrupted` reported) nor the next switch: the copy
/// writes a keyless damage record for it, as for a record that fails its
/// check, instead of failing the switch and leaving the store poisoned until
/// a reopen. The key reads `Corrupted` (or, written again after the damage,
/// its new value or absence), after the switch and after a reopen; other
/// keys keep their values or, sharing the 8-bit key hash and copied before
/// the damage record, read `Corrupted`.
#[test]
fn a_record_whose_header_was_damaged_in_session_does_not_stop_a_switch() {
    let (mut cases, mut covered) = (0, 0);
    for victim in 0..20u8 {
        for byte in 0..8u32 {
            for write in 0..3 {
                for incremental in [false, true] {
                    let ctx = format!(
                        "victim {victim} header byte {byte} write {write} incremental {incremental}"
                    );
                    let flash = RefCell::new(sim::<4>(2 * SIZE));
                    let (mut s, at) = twenty_keys(&flash, victim);
                    // The short header's 8 bytes precede the key (FORMAT.md
                    // §4.1): bytes 0..5 fail the header check, 5..8 the
                    // record check.
                    flash.borrow_mut().flip_bit(at - 8 + byte, 1).unwrap();
                    let corrupted = twinkv_core::Error::Corrupted;
                    let damaged = read_key(&mut s, victim);
                    assert_eq!(damaged, Err(corrupted), "{ctx}: after the damage");
                    // Iteration visits every other key, then reports it.
                    let mut seen = 0;
                    let r = s.for_each(|_, _| {
                        seen += 1;
                        true
                    });
                    assert_eq!((r, seen), (Err(corrupted), 19), "{ctx}");
                    let want = match write {
                        0 => Err(corrupted),
                        1 => {
                            s.set(&damage_key(victim), b"value-2").unwrap();
                            Ok(Some(b"value-2".to_vec()))
                        }
                        _ => {
                            s.remove(&damage_key(victim)).unwrap();
                            Ok(None)
                        }
                    };
                    switch_once(&mut s, incremental, &ctx);
                    assert_eq!(read_key(&mut s, victim), want, "{ctx}: after the switch");
                    s.set(b"after", b"the switch").unwrap();
                    drop(s);
                    let mut s = open(&flash, config()).unwrap();
                    assert_eq!(read_key(&mut s, victim), want, "{ctx}: after a reopen");
                    let mut buf = [0u8; 16];
                    assert_eq!(s.get(b"after", &mut buf), Ok(Some(10)), "{ctx}");
                    covered += others_intact_or_covered(&mut s, victim, &ctx);
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 960);
    println!("other keys covered by the damage record's key hash: {covered} of 18240");
}

/// A bit flipped in the erased "superseded" slot of the active region while
/// the store is open: the next switch commits, leaves the slot as it is
/// (an open reads it as step 8 cut short, FORMAT.md §7) and returns `Ok`,
/// where it used to fail programming over it after its commit and poison
/// the store. Every acknowledged write reads back, in session and after a
/// reopen.
#[test]
fn a_damaged_superseded_slot_does_not_fail_the_switch() {
    let slot = 48 + 2 * 12; // "superseded" at W = 4 (FORMAT.md §1)
    let mut cases = 0;
    for byte in 0..12u32 {
        for incremental in [false, true] {
            let ctx = format!("slot byte {byte} incremental {incremental}");
            let flash = RefCell::new(sim::<4>(2 * SIZE));
            let (mut s, _) = twenty_keys(&flash, 0);
            assert_eq!(s.stats().active, RegionId::A, "{ctx}");
            flash.borrow_mut().flip_bit(slot + byte, 3).unwrap();
            switch_once(&mut s, incremental, &ctx);
            assert_eq!(s.stats().active, RegionId::B, "{ctx}");
            let (s, active) = rewrite_and_reopen(&flash, s, &ctx);
            assert_eq!(s.stats().active, active, "{ctx}");
            cases += 1;
        }
    }
    assert_eq!(cases, 24);
}

/// A bit flipped in the erased header area (header block and marker slots)
/// of the inactive region after erase ahead finished erasing it, while the
/// store is open: the next switch erases the units of that area again
/// before it programs the header (FORMAT.md §7, step 2), where it used to program over
/// the flipped bit. On flash that refuses such a write (ECC parts, the
/// default `SimFlash`) the switch failed with `NotErased` and poisoned the
/// store; on flash that ANDs the write into the cells it committed a header
/// or marker that did not read valid, and the next open refused the store
/// as `Corrupted` (19 of the 84 positions) or the switch failed (5). Every
/// byte of the area, both kinds of flash, `compact` and an incremental
/// switch: every acknowledged write reads back after a reopen.
#[test]
fn a_damaged_erased_header_area_of_the_target_is_erased_again() {
    let area = 48 + 3 * 12; // header block and three marker slots at W = 4
    let mut cases = 0;
    for and in [false, true] {
        for at in 0..area {
            for incremental in [false, true] {
                let ctx = format!("and {and} byte {at} incremental {incremental}");
                let flash = RefCell::new(sim::<4>(2 * SIZE));
                if and {
                    flash.borrow_mut().set_reprogram(Reprogram::And);
                }
                let (mut s, _) = twenty_keys(&flash, 0);
                erase_a_ahead(&mut s, &ctx);
                flash.borrow_mut().flip_bit(at, (at % 8) as u8).unwrap();
                switch_once(&mut s, incremental, &ctx);
                assert_eq!(s.stats().active, RegionId::A, "{ctx}");
                rewrite_and_reopen(&flash, s, &ctx);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 336);
}

/// A bit flipped in the erased data area of the inactive region after
/// erase ahead finished erasing it, while the store is open. The switch
/// into it reads each erase unit before the copy first programs into it
/// (FORMAT.md §7, step 2), and erases again a unit that no longer reads
/// erased (the target holds nothing there yet). Before, the copy programmed
/// over the flipped bit: on flash that refuses such a write (ECC parts, the
/// default `SimFlash`) the switch failed with `NotErased` and poisoned the
/// store (blocking store: 1,616 of its 3,928 cases on that flash); on flash
/// that ANDs the write into the cells, a copied record did not read valid
/// and acknowledged writes read `Corrupted` (16 of 3,928).
///
/// Every byte of the data area, both kinds of flash, `compact` and an
/// incremental switch, the blocking and the async store; then writes until
/// the next switch (the log grows through the region, its appends reading
/// back what they program), and every key set again: every call succeeds
/// and every key reads its value, in session and after a reopen. One exception after the reopen: a bit
/// flipped among the bytes the open probes at the start of an erase unit
/// past the log's end (32 here) is bytes past the log (FORMAT.md §6.2), as
/// a log that went on past a wiped span leaves them: the open reports it,
/// and the keys read `Corrupted`, never another value.
#[test]
fn a_damaged_erased_data_area_of_the_target_is_read_before_use() {
    let data_start = 48 + 3 * 12; // FORMAT.md §1 at W = 4
                                  // Open's probe of each erase unit past the log (FORMAT.md §6.2): one
                                  // largest record (56 B) or the unit over the region's 8 units, at
                                  // least 8 bytes: 32 bytes.
    let probe = (256 / (SIZE / 256))
        .max(8)
        .min(config().max_record_len(4).unwrap());
    assert_eq!(probe, 32);
    let (mut cases, mut probed) = (0, 0);
    for front in Front::BOTH {
        for and in [false, true] {
            for at in data_start..SIZE {
                for incremental in [false, true] {
                    let ctx = format!("{front:?} and {and} byte {at} incremental {incremental}");
                    let flash = RefCell::new(sim::<4>(2 * SIZE));
                    if and {
                        flash.borrow_mut().set_reprogram(Reprogram::And);
                    }
                    let mut s = twenty_keys_as(front, &flash);
                    erase_a_ahead(&mut *s, &ctx);
                    flash.borrow_mut().flip_bit(at, (at % 8) as u8).unwrap();
                    switch_once(&mut s, incremental, &ctx);
                    assert_eq!(s.stats().active, RegionId::A, "{ctx}");
                    // The log grows through A up to the next switch.
                    switch_once(&mut s, true, &ctx);
                    rewrite(&mut *s);
                    all_rewritten(&mut *s, &format!("{ctx}, in session"));
                    drop(s);
                    let mut s = open_as::<4>(front, &flash, config()).unwrap();
                    let reported = s.stats().damage_found_at_open > 0;
                    if reported {
                        assert!(at % 256 < probe, "{ctx}: damage reported at open");
                        probed += 1;
                    }
                    for k in 0..20 {
                        match read_key(&mut s, k) {
                            Ok(Some(v)) if v == b"value-3" => {}
                            Err(StoreError::Corrupted) if reported => {}
                            r => panic!("{ctx}: key {k} reads {r:?} after a reopen"),
                        }
                    }
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 8 * (SIZE - data_start));
    println!("cases {cases}, reported at open (probe bytes past the log): {probed}");
}

/// A cut during a switch that erases a damaged unit of its target again
/// ([`a_damaged_erased_data_area_of_the_target_is_read_before_use`]): the
/// erase cut short (the unit left partly erased), and a cut at every
/// program and erase step of the switch, with `compact` and with an
/// incremental switch. The target is uncommitted until step 6, so a reopen
/// keeps the old region: every acknowledged write reads back, and the
/// store then switches, fills and reopens as usual. One bit flipped in
/// each erase unit of the target's data area, both kinds of flash, the
/// blocking and the async store.
#[test]
fn a_cut_while_a_damaged_target_unit_is_erased_again_recovers() {
    use std::collections::BTreeMap;
    let (mut tried, mut erased_again) = (0, 0);
    for front in Front::BOTH {
        for and in [false, true] {
            for unit in 0..SIZE / 256 {
                // Past the header area in unit 0; past the probe bytes elsewhere.
                let at = unit * 256 + 100;
                for incremental in [false, true] {
                    for step in 0.. {
                        let ctx = format!(
                            "{front:?} and {and} byte {at} incremental {incremental} step {step}"
                        );
                        let flash = RefCell::new(sim::<4>(2 * SIZE));
                        if and {
                            flash.borrow_mut().set_reprogram(Reprogram::And);
                        }
                        let mut s = twenty_keys_as(front, &flash);
                        let n = erase_a_ahead(&mut *s, &ctx);
                        let mut acked: BTreeMap<u8, Vec<u8>> = (0..20)
                            .map(|k| {
                                (
                                    k,
                                    if u32::from(k) < n {
                                        "value-2"
                                    } else {
                                        "value-1"
                                    },
                                )
                            })
                            .map(|(k, v)| (k, v.as_bytes().to_vec()))
                            .collect();
                        flash.borrow_mut().flip_bit(at, 5).unwrap();
                        // Step 0: the erase again cut short; then every step.
                        if step == 0 {
                            flash.borrow_mut().interrupt_erase_after(0, u64::from(at));
                        } else {
                            flash.borrow_mut().reset_steps();
                            flash
                                .borrow_mut()
                                .cut_power_after(step, TearMode::RandomBits, step);
                        }
                        let switches = s.stats().switches;
                        let mut inflight = None;
                        let mut n = 0u32;
                        let cut = loop {
                            if !incremental {
                                break s.compact().is_err();
                            }
                            if s.stats().switches > switches {
                                break false;
                            }
                            let k = 20 + (n % 8) as u8;
                            let v = format!("filler-{n}").into_bytes();
                            if s.set(&damage_key(k), &v).is_err() {
                                inflight = Some((k, v));
                                break true;
                            }
                            acked.insert(k, v);
                            n += 1;
                        };
                        drop(s);
                        // A call fails only for the cut, never for the damage.
                        assert_eq!(cut, flash.borrow().power_lost(), "{ctx}");
                        if !cut && step == 0 {
                            // The copy did not reach the flipped unit before
                            // its commit: nothing was erased again.
                            continue;
                        }
                        if !cut {
                            // The switch ran to its end before the cut.
                            break;
                        }
                        erased_again += u32::from(step == 0);
                        flash.borrow_mut().cancel_cut();
                        flash.borrow_mut().restore_power();
                        let mut s = open_as::<4>(front, &flash, config()).unwrap();
                        for (&k, v) in &acked {
                            let got = read_key(&mut s, k);
                            let fine = got == Ok(Some(v.clone()))
                                || matches!(&inflight, Some((ik, iv)) if *ik == k && got == Ok(Some(iv.clone())));
                            assert!(fine, "{ctx}: key {k} reads {got:?}");
                        }
                        switch_once(&mut s, true, &ctx);
                        rewrite(&mut *s);
                        drop(s);
                        let mut s = open_as::<4>(front, &flash, config()).unwrap();
                        all_rewritten(&mut *s, &ctx);
                        tried += 1;
                    }
                }
            }
        }
    }
    println!("cuts tried: {tried}, of them during an erase again: {erased_again}");
    assert!(erased_again >= 16, "{erased_again}");
}

/// Index positions read ([`Index::entry`](twinkv_core::Index::entry): the
/// copy's pass reads one per position it visits) per switch, over whole
/// incremental switches of 700 keys (1,024 positions) while random keys are
/// written again, with an index that keeps `keep` noted positions; and how
/// many notes it took. Every value is checked after each switch.
fn visits_per_switch(keep: usize) -> (f64, u64) {
    use twinkv_core::testkit::noting::{entries_read, notes_taken, NotingIndex};
    use twinkv_core::testkit::XorShift;
    use twinkv_core::{RamRegion, Store};
    let (ra, rb) = twinkv_core::testkit::ram_pair(96 * 1024, 512);
    let index = NotingIndex::<1024>::keeping(keep);
    let taken0 = notes_taken();
    let cfg = Config::new(0x0E7E).with_limits(16, 32);
    let scratch =
        vec![0u8; Store::<RamRegion<Vec<u8>>, NotingIndex<1024>, Vec<u8>>::scratch_len(&cfg, 4)];
    let mut s = Store::open(ra, rb, index, scratch, cfg).unwrap();
    let k = |i: u64| format!("key{i:05}").into_bytes();
    let mut model = std::collections::BTreeMap::new();
    for i in 0..700u64 {
        s.set(&k(i), &i.to_le_bytes()).unwrap();
        model.insert(k(i), i.to_le_bytes().to_vec());
    }
    let mut rng = XorShift(7);
    let (mut switches, mut visits) = (0u32, 0u64);
    let mut n = 0u64;
    while switches < 4 {
        let before = s.stats();
        let e0 = entries_read();
        let i = rng.next() % 700;
        n += 1;
        s.set(&k(i), &n.to_le_bytes()).unwrap();
        model.insert(k(i), n.to_le_bytes().to_vec());
        let after = s.stats();
        if before.switching || after.switching {
            visits += entries_read() - e0;
        }
        if after.switches > before.switches {
            switches += 1;
            let mut buf = [0u8; 8];
            for (key, v) in &model {
                assert_eq!(s.get(key, &mut buf).unwrap(), Some(8), "keep {keep}");
                assert_eq!(&buf[..], &v[..], "keep {keep}");
            }
        }
    }
    assert_eq!(s.stats().live_keys, 700);
    (visits as f64 / f64::from(switches), notes_taken() - taken0)
}

#[test]
fn a_copy_takes_the_entries_written_again_from_the_notes_without_a_second_pass() {
    // 1,024 positions, 700 keys. The index's `entry` is read for each
    // position the copy's pass visits, for each entry copied (700 and the
    // ones written again), and for each note taken. Without notes, the keys
    // written again after the pass visited them are found by visiting the
    // positions again, here more than twice in all; with notes one pass
    // suffices: at most 1,024 + 700 + 2 × notes taken, and 5 %.
    let (without, none_taken) = visits_per_switch(0);
    let (with, taken) = visits_per_switch(8);
    assert_eq!(none_taken, 0);
    let taken_per_switch = taken as f64 / 4.0;
    assert!(taken_per_switch > 20.0, "{taken} notes taken");
    let one_pass = (1024.0 + 700.0 + 2.0 * taken_per_switch) * 1.05;
    assert!(
        with <= one_pass,
        "{with} > {one_pass} visits per switch with notes"
    );
    assert!(
        without > with + 1024.0,
        "{without} visits per switch without notes, {with} with"
    );
    // A write notes one position and its copy slice takes it back: one
    // kept note does as well as eight here (a batch notes more).
    let (one, _) = visits_per_switch(1);
    assert_eq!(one, with);
}
