//! A batch whose begin record was lost to damage, and a delete that damage
//! covers across a switch: the fuzz finding
//! `fuzz/regressions/ops_with_power_loss/lost-batch-begin-and-covered-delete`.
//!
//! - A cut before a batch's commit leaves its inner records without a
//!   commit; damage that then takes the batch begin (a gap) leaves sets and
//!   deletes that look like plain records. A delete among them must not hide
//!   the key's acknowledged value: records after such a gap are unproven
//!   until an intact record of another kind follows them (FORMAT.md §6.2),
//!   and where the log ends first, every key up to its end is damage.
//! - A delete older than a damage entry that covers its key reads
//!   `Corrupted`, and must still do so after a switch (FORMAT.md §7, step 4:
//!   it is copied as a keyed damaged record, as a covered set is).

use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, Op, RamError};

/// W = 1: header 48, three 12-byte marker slots, data from 84 (FORMAT.md §1).
const D: u32 = 84;
/// A batch begin: 8-byte short header, value `count`, `inner length`.
const BEGIN: u32 = 16;
/// A batch commit: 8-byte short header, 16-byte value.
const COMMIT: u32 = 24;

fn config() -> Config {
    Config::new(0xBA7C)
        .with_limits(8, 64)
        .with_erase_ahead(false)
}

fn get(s: &mut TestStore<'_, '_>, k: &[u8]) -> Result<Option<Vec<u8>>, Error<RamError>> {
    let mut buf = [0u8; 64];
    s.get(k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()))
}

/// The history: `k` and `f` set, then a batch (`t` set, `k` deleted, `u`
/// set) at `b..c`; returns `(b, c)`, the batch's extent in region A.
fn history(rig: &mut Rig<'_>) -> (u32, u32) {
    let mut s = rig.open().unwrap();
    s.set(b"k", b"acknowledged").unwrap();
    s.set(b"f", b"filler").unwrap();
    let b = D + s.stats().used_bytes;
    s.apply(&[
        Op::Set(b"t", b"from the batch"),
        Op::Delete(b"k"),
        Op::Set(b"u", b"also"),
    ])
    .unwrap();
    let c = D + s.stats().used_bytes;
    assert_eq!(s.stats().active, twinkv_core::RegionId::A);
    (b, c)
}

#[test]
fn an_uncommitted_batch_without_its_begin_hides_no_value() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 1, config());
    let (b, c) = history(&mut rig);
    let a = rig.a.ram.data_mut();
    assert_eq!(a[b as usize] & 0x0F, 3, "a batch begin at b");
    assert_eq!(a[(c - COMMIT) as usize] & 0x0F, 4, "its commit last");
    // The crash: a cut before the commit's program call leaves it erased.
    a[(c - COMMIT) as usize..c as usize].fill(0xFF);
    // The damage: the begin reads erased (a gap before the inner records).
    a[b as usize..(b + BEGIN) as usize].fill(0xFF);

    let mut s = rig.open().unwrap();
    assert!(s.stats().damage_found_at_open > 0, "{:?}", s.stats());
    // The batch was never acknowledged: `k` holds its value or is reported.
    match get(&mut s, b"k") {
        Ok(v) => assert_eq!(v.as_deref(), Some(&b"acknowledged"[..])),
        Err(e) => assert_eq!(e, Error::Corrupted),
    }
    for key in [&b"t"[..], b"u"] {
        match get(&mut s, key) {
            Ok(v) => assert_eq!(v, None, "{key:?}: a value the batch never committed"),
            Err(e) => assert_eq!(e, Error::Corrupted),
        }
    }
    // The same after a switch, and after a reopen.
    s.compact().unwrap();
    assert!(!matches!(get(&mut s, b"k"), Ok(None)));
    drop(s);
    let mut s = rig.open().unwrap();
    assert!(!matches!(get(&mut s, b"k"), Ok(None)));
    assert!(!matches!(get(&mut s, b"t"), Ok(Some(_))));
}

#[test]
fn a_committed_batch_without_its_begin_is_kept() {
    // Damage alone: the commit after the inner records proves the batch
    // was committed, so its writes stand (the begin's loss is damage).
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 1, config());
    let (b, _) = history(&mut rig);
    rig.a.ram.data_mut()[b as usize..(b + BEGIN) as usize].fill(0xFF);
    let mut s = rig.open().unwrap();
    assert!(s.stats().damage_found_at_open > 0);
    assert_eq!(get(&mut s, b"k"), Ok(None));
    assert_eq!(
        get(&mut s, b"t").unwrap().as_deref(),
        Some(&b"from the batch"[..])
    );
    assert_eq!(get(&mut s, b"u").unwrap().as_deref(), Some(&b"also"[..]));
    // `f`'s newest record precedes the gap: its keys are unknown.
    assert_eq!(get(&mut s, b"f"), Err(Error::Corrupted));
}

#[test]
fn sets_after_a_gap_are_proven_by_a_later_record_of_another_kind() {
    // A gap, then plain sets, then a batch (its begin is of another kind):
    // the sets after the gap are not a lost batch and read their values.
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 1, config());
    let g;
    {
        let mut s = rig.open().unwrap();
        s.set(b"a", b"before").unwrap();
        g = D + s.stats().used_bytes;
        s.set(b"g", b"the gap").unwrap();
        s.set(b"p", b"after the gap").unwrap();
        s.apply(&[Op::Set(b"q", b"in a batch"), Op::Set(b"r", b"too")])
            .unwrap();
    }
    rig.a.ram.data_mut()[g as usize..g as usize + 4].fill(0xFF);
    let mut s = rig.open().unwrap();
    assert!(s.stats().damage_found_at_open > 0);
    assert_eq!(get(&mut s, b"a"), Err(Error::Corrupted));
    assert_eq!(
        get(&mut s, b"p").unwrap().as_deref(),
        Some(&b"after the gap"[..])
    );
    assert_eq!(
        get(&mut s, b"q").unwrap().as_deref(),
        Some(&b"in a batch"[..])
    );
}

#[test]
fn a_delete_covered_by_damage_stays_corrupted_across_a_switch() {
    // A first gap makes the replay keep `k`'s delete (damage could cover
    // the key); a second gap after it covers it.
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 1, config());
    let (g1, g2);
    {
        let mut s = rig.open().unwrap();
        s.set(b"k", b"old").unwrap();
        g1 = D + s.stats().used_bytes;
        s.set(b"g", b"first gap").unwrap();
        s.remove(b"k").unwrap();
        g2 = D + s.stats().used_bytes;
        // The record the damage takes may have been a later write of `k`.
        s.set(b"h", b"second gap").unwrap();
        s.set(b"p", b"after").unwrap();
        // A record of another kind than set and delete (a batch begin)
        // proves `p` was no lost batch.
        s.apply(&[Op::Set(b"q", b"after"), Op::Set(b"r", b"after")])
            .unwrap();
    }
    // Mid-log damage: the records at g1 and g2 no longer decode, intact
    // records follow each.
    for g in [g1, g2] {
        rig.a.ram.data_mut()[g as usize..g as usize + 4].fill(0xFF);
    }
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"k"), Err(Error::Corrupted));
    assert_eq!(get(&mut s, b"p").unwrap().as_deref(), Some(&b"after"[..]));
    s.compact().unwrap();
    assert_eq!(get(&mut s, b"k"), Err(Error::Corrupted), "after the switch");
    assert_eq!(get(&mut s, b"p").unwrap().as_deref(), Some(&b"after"[..]));
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"k"), Err(Error::Corrupted), "after a reopen");
    // Writing the key again ends it.
    s.set(b"k", b"new").unwrap();
    assert_eq!(get(&mut s, b"k").unwrap().as_deref(), Some(&b"new"[..]));
}

#[test]
fn writes_after_unproven_records_go_to_a_switch_and_survive_a_reopen() {
    // The CI fuzz finding `open_image/write-after-unproven-records-read-corrupted`:
    // a write appended after unproven records would be unproven itself at
    // the next open. The log is sealed instead: the write switches.
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 1, config());
    let (b, c) = history(&mut rig);
    let a = rig.a.ram.data_mut();
    a[(c - COMMIT) as usize..c as usize].fill(0xFF);
    a[b as usize..(b + BEGIN) as usize].fill(0xFF);
    {
        let mut s = rig.open().unwrap();
        assert!(s.stats().dirty_tail, "sealed: {:?}", s.stats());
        s.set(b"n", b"written after").unwrap();
        assert_eq!(s.stats().active, twinkv_core::RegionId::B, "switched");
        assert_eq!(
            get(&mut s, b"n").unwrap().as_deref(),
            Some(&b"written after"[..])
        );
    }
    let mut s = rig.open().unwrap();
    assert_eq!(
        get(&mut s, b"n").unwrap().as_deref(),
        Some(&b"written after"[..])
    );
    assert!(!matches!(get(&mut s, b"k"), Ok(None)));
}
