//! Damage is never taken for a crash: one test per rule of the audit in
//! FORMAT.md §10.2. Each builds a state a crash cannot produce (damage after
//! a write succeeded) next to the crash state it resembles, and checks that
//! the damage is reported (`Corrupted`, counted at open, or the open refused)
//! with everything else kept, while the crash state still recovers.

use twinkv_core::format::marker::Marker;
use twinkv_core::format::record::Kind;
use twinkv_core::format::{RegionHeader, Seal};
use twinkv_core::testkit::asynch::{DynStore, Front};
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, Op, RamError, TearMode};

/// W = 4: header 48, markers at 48 (switching), 60 (commit), 72
/// (superseded), data from 84 (FORMAT.md §1).
const SWITCHING: usize = 48;
const COMMIT: usize = 60;
const SUPERSEDED: usize = 72;
const D: usize = 84;

fn config() -> Config {
    Config::new(0xDA3A).with_limits(8, 24)
}

fn get(s: &mut TestStore<'_, '_>, k: &[u8]) -> Result<Option<Vec<u8>>, Error<RamError>> {
    let mut buf = [0u8; 32];
    s.get(k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()))
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    format!("value{i}.{round}").into_bytes()
}

/// Byte offsets of the records in `bytes` from `D` on (W = 4, short form).
fn record_offsets(bytes: &[u8], end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = D;
    while at + 8 <= end && bytes[at..at + 8] != [0xFF; 8] {
        let word = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let key_len = (word >> 5) & 0x3F;
        let value_len = (word >> 11) & 0x1FFF;
        let len = (8 + key_len + value_len).div_ceil(4) * 4;
        out.push((at, at + 8 + key_len as usize + value_len as usize));
        at += len as usize;
    }
    out
}

/// Issue 11, repro 1: a store that a switch compacted, on a region that does
/// not persist in order (a memory-mapped file), with a bit flipped in a
/// record the switch copied and committed. The commit's data end is a sync
/// point: the flip is mid-log damage, never a torn tail.
#[test]
fn flip_inside_a_committed_copy_is_damage_not_a_torn_tail() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    rig.set_in_order(false);
    {
        let mut s = rig.open().unwrap();
        for i in 0..20 {
            s.set(&key(i), &value(i, 0)).unwrap();
        }
        s.compact().unwrap();
        // Unsynced writes after the switch: the log ends past the commit.
        for i in 0..3 {
            s.set(&key(i), &value(i, 1)).unwrap();
        }
    }
    let (_, b) = rig.snapshot();
    // Byte 95 of the active region (B): inside the first copied record.
    rig.b.ram.flip_bit(95, 0).unwrap();
    let check = |s: &mut TestStore<'_, '_>| {
        let mut corrupted = 0;
        for i in 0..20 {
            let want = value(i, u32::from(i < 3));
            match get(s, &key(i)) {
                Ok(Some(v)) => assert_eq!(v, want, "key{i}"),
                Err(Error::Corrupted) => corrupted += 1,
                other => panic!("key{i}: {other:?} (silent loss)"),
            }
        }
        assert_eq!(corrupted, 1, "exactly the flipped record's key");
    };
    {
        let mut s = rig.open_read_only().unwrap();
        assert!(s.stats().damage_found_at_open >= 1);
        assert!(!s.stats().dirty_tail, "damage is not a torn tail");
        check(&mut s);
    }
    {
        let mut s = rig.open().unwrap();
        s.set(b"other", b"x").unwrap();
        s.sync().unwrap();
    }
    let mut s = rig.open().unwrap();
    check(&mut s);
    assert_eq!(get(&mut s, b"other").unwrap().unwrap(), b"x");
    drop(s);
    assert_ne!(rig.snapshot().1, b, "the test wrote");
}

/// A not-in-order store (a memory-mapped file): six sets, `sync()`, six more
/// sets of the same keys. Returns the rig and the unsynced records' spans.
fn synced_then_unsynced(power: &Power) -> (Rig<'_>, Vec<(usize, usize)>) {
    let mut rig = Rig::new(power, 4096, 4, config());
    rig.set_in_order(false);
    {
        let mut s = rig.open().unwrap();
        for i in 0..6 {
            s.set(&key(i), &value(i, 0)).unwrap();
        }
        s.sync().unwrap();
        for i in 0..6 {
            s.set(&key(i), &value(i, 1)).unwrap();
        }
    }
    let (a, _) = rig.snapshot();
    let recs = record_offsets(&a, a.len());
    // The records after the sync marker: the six unsynced sets.
    (rig, recs[recs.len() - 6..].to_vec())
}

/// On a region that does not persist in order, a record after the last
/// sync point that fails its check is a torn write only if some of its
/// bytes read erased (a page lost from the page cache, or not yet written).
/// A flip leaves none: it is damage, and the records after it are kept.
#[test]
fn unsynced_record_failing_without_erased_bytes_is_damage() {
    let power = Power::default();
    let (mut rig, unsynced) = synced_then_unsynced(&power);
    let (at, _) = unsynced[2];
    rig.a.ram.flip_bit(at as u32 + 9, 3).unwrap(); // a key byte of key2
    let mut s = rig.open().unwrap();
    assert!(!s.stats().dirty_tail);
    assert_eq!(s.stats().damage_found_at_open, 1);
    for i in [0, 1, 3, 4, 5] {
        assert_eq!(
            get(&mut s, &key(i)).unwrap().unwrap(),
            value(i, 1),
            "key{i}"
        );
    }
    assert!(matches!(get(&mut s, &key(2)), Err(Error::Corrupted)));
    // The log stays appendable after the damage.
    s.set(b"next", b"1").unwrap();
    assert_eq!(s.stats().switches, 0);
}

/// The crash shape on the same medium: an unsynced record whose last bytes
/// read erased (a torn or lost page) starts the dirty tail; earlier records
/// stay, the torn key shows its previous value, and nothing after it counts.
#[test]
fn unsynced_record_with_erased_bytes_is_a_torn_tail() {
    let power = Power::default();
    let (mut rig, unsynced) = synced_then_unsynced(&power);
    let (_, end) = unsynced[2];
    // The last four bytes of the record read erased.
    rig.a.ram.data_mut()[end - 4..end].fill(0xFF);
    let mut s = rig.open().unwrap();
    assert!(s.stats().dirty_tail);
    for i in [0, 1] {
        assert_eq!(get(&mut s, &key(i)).unwrap().unwrap(), value(i, 1));
    }
    for i in 2..6 {
        assert_eq!(get(&mut s, &key(i)).unwrap().unwrap(), value(i, 0));
    }
}

/// Regions that persist in order: a crash tears only the last program call,
/// one record, and only clears bits that record clears. Bytes programmed
/// beyond what that call could reach after the last intact record, or a
/// slot whose kind bits read zero, are damage, not a torn tail: the keys
/// they may have held report `Corrupted` instead of showing older values.
/// Regions in order: a span zeroed from inside a record (its header still
/// valid, so its extent is known) over the records after it. Of the two
/// problems, the zeroed slot after the record cannot be a tear (its kind
/// bits read zero), and only the last program call can be torn: both are
/// damage, never a torn tail that silently takes the later records (the
/// fuzz finding `ops/in-order-zeroed-unit-from-inside-a-record-taken-for-torn-tail`).
#[test]
fn in_order_zeroed_span_from_inside_a_record_is_damage() {
    // From the second-last record's first key byte to the end of the log:
    // within the reach of one maximal record from it, so the bound on what
    // one program call can reach does not tell either. Both problems are
    // damage (no gap is left unreported as a torn tail); with no intact
    // record after them the log is sealed, not appended to.
    let st = zeroed_from_the_second_last_record(8);
    assert_eq!(st.damage_found_at_open, 2, "{st:?}");
}

/// On a region that persists in order, a span zeroed from a record's header
/// check (its first four bytes intact, the header no longer decoding) over
/// the records after it: a torn program only clears bits, so the header's
/// length fields read bound how far the program reached, and the zeros past
/// that record are damage, not its tear, though they lie within one maximal
/// record of it (fuzz finding
/// `ops/in-order-zeroed-unit-over-records-after-a-torn-header`: the newest
/// values rolled back silently).
#[test]
fn in_order_zeroed_span_from_a_header_check_is_damage() {
    let st = zeroed_from_the_second_last_record(4);
    assert!(st.damage_found_at_open >= 1, "{st:?}");
}

/// Six keys set twice on a region in order, then the log zeroed from byte
/// `at` of its second-last record to its end, and opened: the two keys
/// whose newest records were zeroed answer `Corrupted`, the others their
/// newest value or `Corrupted`, never an older value. Returns the stats
/// after the open.
fn zeroed_from_the_second_last_record(at: usize) -> twinkv_core::Stats {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    let end;
    {
        let mut s = rig.open().unwrap();
        for round in 0..2 {
            for i in 0..6 {
                s.set(&key(i), &value(i, round)).unwrap();
            }
        }
        end = D + s.stats().used_bytes as usize;
    }
    let (a, _) = rig.snapshot();
    let recs = record_offsets(&a, end);
    let from = recs[recs.len() - 2].0 + at;
    rig.a.ram.data_mut()[from..end].fill(0);
    let mut s = rig.open().unwrap();
    for i in 4..6 {
        assert_eq!(
            get(&mut s, &key(i)),
            Err(Error::Corrupted),
            "key{i}: its newest record was zeroed"
        );
    }
    for i in 0..4 {
        match get(&mut s, &key(i)) {
            Ok(Some(v)) => assert_eq!(v, value(i, 1), "key{i}"),
            Err(Error::Corrupted) => {}
            other => panic!("key{i}: {other:?}"),
        }
    }
    s.stats()
}

#[test]
fn in_order_garbage_beyond_one_record_is_damage() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    let end;
    {
        let mut s = rig.open().unwrap();
        for i in 0..6 {
            s.set(&key(i), &value(i, 0)).unwrap();
        }
        for i in 0..6 {
            s.set(&key(i), &value(i, 1)).unwrap();
        }
        end = D + s.stats().used_bytes as usize;
    }
    let (a, _) = rig.snapshot();
    let recs = record_offsets(&a, end);
    // Zero the last three records (a zeroed sector over the end of the log).
    let from = recs[recs.len() - 3].0;
    rig.a.ram.data_mut()[from..end].fill(0);
    let mut s = rig.open().unwrap();
    assert!(s.stats().damage_found_at_open > 0);
    // The zeroed span's keys are unknown: a key whose newest record precedes
    // it may have been overwritten there, so it reports corruption too.
    for i in 0..3 {
        match get(&mut s, &key(i)) {
            Ok(Some(v)) => assert_eq!(v, value(i, 1), "key{i}"),
            Err(Error::Corrupted) => {}
            other => panic!("key{i}: {other:?}"),
        }
    }
    for i in 3..6 {
        assert!(
            matches!(get(&mut s, &key(i)), Err(Error::Corrupted)),
            "key{i} must report corruption, not an older value"
        );
    }
    drop(s);

    // A tear of the last record (a prefix programmed, the rest still
    // erased; a tear only ever clears bits the record clears): a torn tail.
    let power = Power::default();
    // No erase ahead: its erased record would be the last record.
    let mut rig = Rig::new(&power, 4096, 4, config().with_erase_ahead(false));
    {
        let mut s = rig.open().unwrap();
        s.set(&key(0), &value(0, 0)).unwrap();
        s.set(&key(0), &value(0, 1)).unwrap();
    }
    let (a, _) = rig.snapshot();
    let recs = record_offsets(&a, a.len());
    let (at, end) = *recs.last().unwrap();
    rig.a.ram.data_mut()[at + 3..end].fill(0xFF);
    let mut s = rig.open().unwrap();
    assert!(s.stats().dirty_tail);
    assert_eq!(get(&mut s, &key(0)).unwrap().unwrap(), value(0, 0));
}

/// Issue 11, repro 2: a flipped bit in the commit marker of the only
/// formatted region. A cut first format never leaves records behind, so a
/// header without a valid commit over records is damage: the open refuses
/// (`Corrupted`) and writes nothing, and salvage still reads every key.
#[test]
fn header_without_commit_over_records_is_not_a_first_format() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    {
        let mut s = rig.open().unwrap();
        for i in 0..20 {
            s.set(&key(i), &value(i, 0)).unwrap();
        }
        assert_eq!(s.stats().switches, 0);
    }
    rig.a.ram.flip_bit(COMMIT as u32, 0).unwrap();
    let before = rig.snapshot();
    assert!(matches!(rig.open(), Err(Error::Corrupted)));
    assert!(matches!(rig.open_read_only(), Err(Error::Corrupted)));
    assert_eq!(rig.snapshot(), before, "a refused open writes nothing");
    let scratch = vec![0u8; 4096];
    let mut s = twinkv_core::Store::open_salvage(
        &mut rig.a,
        &mut rig.b,
        twinkv_core::FixedIndex::<64>::new(),
        scratch,
        config(),
    )
    .unwrap();
    assert!(s.stats().salvaged);
    for i in 0..20 {
        let mut buf = [0u8; 32];
        let n = s.get(&key(i), &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], value(i, 0));
    }
}

/// The crash it resembles still recovers: a first format cut before its
/// commit (header only, log erased) is formatted again.
#[test]
fn header_without_commit_over_erased_log_is_a_cut_first_format() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    drop(rig.open().unwrap());
    rig.a.ram.data_mut()[COMMIT..COMMIT + 12].fill(0xFF);
    let mut s = rig.open().unwrap();
    s.set(b"k", b"v").unwrap();
    assert_eq!(s.stats().generation, 1);
}

fn header(store_id: u64, generation: u64, size: u32) -> [u8; 48] {
    let c = config();
    RegionHeader {
        store_id,
        generation,
        region_size: size,
        erase_unit: 256,
        write_unit: 4,
        read_unit: 1,
        max_key_len: c.max_key_len,
        max_value_len: c.max_value_len,
        high_water_bp: c.high_water_bp,
        max_fill_bp: c.max_fill_bp,
    }
    .encode()
}

/// Issue 11, repro 5 (found by fuzzing `open_image`): region A erased, B
/// holding a valid header of another store id with no commit, opened with
/// `adopt_store_id`. The first format writes A, with the configured id: this
/// is no cut first format, and open must neither format A nor accept writes
/// it cannot find again.
#[test]
fn header_in_b_alone_is_not_a_first_format() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, config().adopting_store_id());
    rig.b.ram.data_mut()[..48].copy_from_slice(&header(0x0123_4567_89ab_cdef, 4, 1024));
    let before = rig.snapshot();
    assert!(rig.open().is_err());
    assert_eq!(rig.snapshot(), before, "a refused open writes nothing");

    // Nor under the configured id: B is never formatted first.
    let power = Power::default();
    let mut rig = Rig::new(&power, 1024, 4, config());
    rig.b.ram.data_mut()[..48].copy_from_slice(&header(config().store_id, 1, 1024));
    let before = rig.snapshot();
    assert!(rig.open().is_err());
    assert_eq!(rig.snapshot(), before);
}

/// A store after one switch (A gen 1 superseded, B gen 2 active) with keys.
fn switched<'p>(power: &'p Power) -> Rig<'p> {
    let mut rig = Rig::new(power, 1024, 4, config());
    let mut s = rig.open().unwrap();
    for i in 0..6 {
        s.set(&key(i), &value(i, 0)).unwrap();
    }
    s.compact().unwrap();
    assert_eq!(s.stats().generation, 2);
    drop(s);
    rig
}

fn seal(generation: u64) -> Seal {
    Seal {
        store_id: config().store_id,
        generation,
    }
}

/// A committed region next to an uncommitted *newer* partner is the cut
/// switch of FORMAT.md §7.2 rows 3–6 only if the committed region says
/// "switching" and the partner holds the next generation. Without
/// "switching" it is damage (e.g. a successor whose commit was hit after
/// the old region's markers were lost): `Corrupted`, not the older state.
#[test]
fn newer_uncommitted_partner_needs_switching_set() {
    // Crash state: A committed with "switching", B gen 2 uncommitted
    // (commit torn), A not yet superseded → A.
    let power = Power::default();
    let mut rig = switched(&power);
    rig.a.ram.data_mut()[SUPERSEDED..SUPERSEDED + 12].fill(0xFF);
    rig.b.ram.data_mut()[COMMIT + 2] ^= 0x01;
    let mut s = rig.open().unwrap();
    assert_eq!(s.stats().generation, 1, "the cut switch's old state");
    assert_eq!(get(&mut s, &key(0)).unwrap().unwrap(), value(0, 0));
    drop(s);

    // Not a crash state: A's "switching" erased too.
    let power = Power::default();
    let mut rig = switched(&power);
    rig.a.ram.data_mut()[SUPERSEDED..SUPERSEDED + 12].fill(0xFF);
    rig.a.ram.data_mut()[SWITCHING..SWITCHING + 12].fill(0xFF);
    rig.b.ram.data_mut()[COMMIT + 2] ^= 0x01;
    let before = rig.snapshot();
    assert!(matches!(rig.open(), Err(Error::Corrupted)));
    assert_eq!(rig.snapshot(), before);
}

/// A committed region with "switching" next to an unrecognised partner is a
/// switch cut while the partner was erased or formatted — unless the
/// partner's commit for the next generation is valid: then the partner is
/// the newest state with a damaged header, and open refuses instead of
/// rolling back (and of erasing it at the next switch).
#[test]
fn unrecognised_partner_with_a_valid_next_commit_is_damage() {
    let power = Power::default();
    let mut rig = switched(&power);
    // Cut between steps 7 and 8: B committed, A not yet superseded.
    rig.a.ram.data_mut()[SUPERSEDED..SUPERSEDED + 12].fill(0xFF);
    // Then damage to B's header.
    rig.b.ram.flip_bit(20, 2).unwrap();
    let before = rig.snapshot();
    assert!(matches!(rig.open(), Err(Error::Corrupted)));
    assert_eq!(rig.snapshot(), before);
    // Its commit marker is still valid for generation 2.
    let m = &before.1[COMMIT..COMMIT + 12];
    assert!(matches!(
        Marker::Commit.read(seal(2), m),
        twinkv_core::format::MarkerState::Valid(_)
    ));
}

/// A committed region without "switching" next to an unrecognised partner
/// whose "superseded" marker is valid for the previous generation: the
/// partner is our own superseded region with a damaged header. The store
/// opens (it was refused as `Unrecognised` before).
#[test]
fn superseded_predecessor_with_a_damaged_header_is_ours() {
    let power = Power::default();
    let mut rig = switched(&power);
    rig.a.ram.flip_bit(10, 1).unwrap(); // A's store id
    let mut s = rig.open().unwrap();
    for i in 0..6 {
        assert_eq!(get(&mut s, &key(i)).unwrap().unwrap(), value(i, 0));
    }
    s.set(b"more", b"1").unwrap();
    drop(s);
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"more").unwrap().unwrap(), b"1");
}

/// Regions in order: the records a switch copied all lie before the commit's
/// data end, so damage to the last of them (or an erased unit before the
/// data end) is mid-log damage — never a torn tail, although every intact
/// record before it is a sync point of its own.
#[test]
fn in_order_damage_before_the_commit_data_end_is_reported() {
    for erase in [false, true] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 1024, 4, config());
        let end;
        {
            let mut s = rig.open().unwrap();
            for i in 0..6 {
                s.set(&key(i), &value(i, 0)).unwrap();
            }
            s.compact().unwrap();
            end = D + s.stats().used_bytes as usize;
        }
        let (_, b) = rig.snapshot();
        let recs = record_offsets(&b, end);
        // The last copied key record (the switch's erased record follows).
        let (at, rec_end) = *recs
            .iter()
            .rev()
            .find(|&&(o, _)| b[o] & 0x0F != Kind::Erased.code())
            .unwrap();
        if erase {
            // Everything from the last copied record on reads erased.
            rig.b.ram.data_mut()[at..end].fill(0xFF);
        } else {
            rig.b.ram.flip_bit(rec_end as u32 - 1, 0).unwrap();
        }
        let mut s = rig.open().unwrap();
        assert!(s.stats().damage_found_at_open > 0, "erase={erase}");
        let mut corrupted = 0;
        for i in 0..6 {
            match get(&mut s, &key(i)) {
                Ok(Some(v)) => assert_eq!(v, value(i, 0)),
                Err(Error::Corrupted) => corrupted += 1,
                other => panic!("erase={erase} key{i}: {other:?}"),
            }
        }
        assert!(corrupted >= 1, "erase={erase}");
    }
}

/// The keys of the set records in `bytes` from `D` on (W = 4, short form),
/// each with the offset of its newest record.
fn newest_sets(bytes: &[u8], end: usize) -> Vec<(Vec<u8>, usize)> {
    let mut out: Vec<(Vec<u8>, usize)> = Vec::new();
    for (at, _) in record_offsets(bytes, end) {
        let word = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        // A set, stored as a set or as an update (FORMAT.md §4.3).
        if Kind::from_code(word as u8 & 0x0F) != Some(Kind::Set) {
            continue;
        }
        let key_len = ((word >> 5) & 0x3F) as usize;
        let k = bytes[at + 8..at + 8 + key_len].to_vec();
        match out.iter_mut().find(|(x, _)| *x == k) {
            Some(e) => e.1 = at,
            None => out.push((k, at)),
        }
    }
    out
}

/// Regions in order, where open reads past the log's end only one erase
/// unit in full and probes the start of each later unit (FORMAT.md §6.2):
/// damage erased the log from a record's start to the end of its erase unit
/// (the rest of a unit wiped by a stray erase, the record before it intact)
/// and the log goes on after it. The scan meets an erased slot there, the
/// span up to the unit's end reads erased, and only the probe of the next
/// unit finds the log's continuation: the erased span is mid-log damage and
/// every record after it is kept — never a key's older value.
#[test]
fn erased_span_mid_log_is_found_by_the_probe() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    let (unit, e) = (3usize, 256usize);
    let end;
    {
        let mut s = rig.open().unwrap();
        for round in 0..5 {
            for i in 0..12 {
                s.set(&key(i), &value(i, round)).unwrap();
            }
        }
        // A batch ends the log: a record of another kind than set and
        // delete after the wiped span proves the sets between were no batch
        // whose begin it took (FORMAT.md §6.2, unproven records).
        s.apply(&[Op::Set(b"proof-a", b"1"), Op::Set(b"proof-b", b"2")])
            .unwrap();
        assert_eq!(s.stats().switches, 0);
        end = D + s.stats().used_bytes as usize;
    }
    assert!(end > (unit + 2) * e, "the log goes on past the wiped unit");
    let (a, _) = rig.snapshot();
    let newest = newest_sets(&a, end);
    // The first record that starts in the unit: the scan's erased slot.
    let (r, _) = *record_offsets(&a, end)
        .iter()
        .find(|&&(o, _)| o >= unit * e)
        .unwrap();
    assert!(
        r + 48 < (unit + 1) * e,
        "the probe, not the full read, finds it"
    );
    rig.a.ram.data_mut()[r..(unit + 1) * e].fill(0xFF);
    let mut s = rig.open().unwrap();
    assert!(s.stats().damage_found_at_open > 0);
    let mut kept = 0;
    for i in 0..12 {
        let at = newest.iter().find(|(k, _)| *k == key(i)).unwrap().1;
        match get(&mut s, &key(i)) {
            Ok(Some(v)) => assert_eq!(v, value(i, 4), "key{i}: an older value"),
            Err(Error::Corrupted) => assert!(at < (unit + 1) * e, "key{i} after the erased span"),
            other => panic!("key{i}: {other:?}"),
        }
        kept += usize::from(at >= (unit + 1) * e);
    }
    assert!(kept > 0, "some newest records lie after the wiped unit");
}

/// As [`erased_span_mid_log_is_found_by_the_probe`], with the log's next
/// unit beginning inside a record's value whose bytes there read `0xFF`: no
/// header among its first 8 bytes. Open reads one largest record past the
/// end of the unit where the scan met the erased slot, not 8 bytes, so it
/// finds the continuation there all the same: the wiped span is mid-log
/// damage, never a key's older value. (With an 8-byte probe, found by the
/// `ops_with_power_loss` fuzzer, seed 20261217: keys read older values.)
#[test]
fn a_wiped_unit_followed_by_0xff_value_bytes_is_found_at_open() {
    wiped_spans_followed_by_0xff_value_bytes(4096, 256, 3, 1..=1, 5);
}

/// As [`a_wiped_unit_followed_by_0xff_value_bytes_is_found_at_open`], with
/// a span of two or three erase units wiped. Open reads the first `P`
/// bytes of every erase unit past the span it reads in full, `P` = one
/// largest record (`R`) where the region's probes of that length read at
/// most one erase unit together (FORMAT.md §6.2): here 8 units of 1 KiB, so
/// `R` (40 B) each. The log resumes where the span ends with at most the
/// rest of one record, then a header, so that probe finds it whatever the
/// value bytes: the span is mid-log damage, never a key's older value.
/// (With 8-byte probes every such case here read older values.)
#[test]
fn a_wiped_span_of_units_followed_by_0xff_value_bytes_is_found_at_open() {
    wiped_spans_followed_by_0xff_value_bytes(8192, 1024, 1, 2..=3, 10);
}

/// Regions of `size` bytes in erase units of `e`; a log of 12 keys set
/// `rounds` times to 24-byte values that are `0xFF` but for the first byte
/// (after 0 to 4 filler records of 16 bytes, which shift where the unit
/// boundaries fall in the 40-byte records), then a batch (a record of
/// another kind than set after the span proves the sets between were no
/// batch, FORMAT.md §6.2). For each span of units in `spans` wiped from the
/// first record starting in unit `unit`, the layouts where the log resumes
/// inside a value with 8 bytes of `0xFF`: open finds the damage, every key
/// reads its newest value or, if its newest record lay before the span's
/// end, `Corrupted`, and some newest records after the span are kept.
fn wiped_spans_followed_by_0xff_value_bytes(
    size: u32,
    e: usize,
    unit: usize,
    spans: core::ops::RangeInclusive<usize>,
    rounds: u32,
) {
    // Values of 24 bytes: the round, then 0xFF.
    let val = |round: u32| {
        let mut v = vec![0xFFu8; 24];
        v[0] = round as u8;
        v
    };
    for span in spans {
        let mut cases = 0;
        for filler in 0..5u8 {
            let power = Power::default();
            let mut rig = Rig::with_erase_unit(&power, size, 4, e as u32, config());
            let end;
            {
                let mut s = rig.open().unwrap();
                for f in 0..filler {
                    s.set(b"fill", &[f]).unwrap();
                }
                for round in 0..rounds {
                    for i in 0..12 {
                        s.set(&key(i), &val(round)).unwrap();
                    }
                }
                s.apply(&[Op::Set(b"proof-a", b"1"), Op::Set(b"proof-b", b"2")])
                    .unwrap();
                assert_eq!(s.stats().switches, 0);
                end = D + s.stats().used_bytes as usize;
            }
            // The log resumes at `next`, after `span` units wiped.
            let next = (unit + span) * e;
            assert!(end > next + 200, "the log goes on past the wiped span");
            let (a, _) = rig.snapshot();
            let recs = record_offsets(&a, end);
            let straddles = recs.iter().any(|&(o, l)| o < next && o + l > next + 8);
            if !straddles || a[next..next + 8] != [0xFF; 8] {
                continue;
            }
            cases += 1;
            let newest = newest_sets(&a, end);
            let (r, _) = *recs.iter().find(|&&(o, _)| o >= unit * e).unwrap();
            rig.a.ram.data_mut()[r..next].fill(0xFF);
            let mut s = rig.open().unwrap();
            let case = format!("span {span}, filler {filler}");
            assert!(s.stats().damage_found_at_open > 0, "{case}");
            let mut kept = 0;
            for i in 0..12 {
                let at = newest.iter().find(|(k, _)| *k == key(i)).unwrap().1;
                match get(&mut s, &key(i)) {
                    Ok(Some(v)) => {
                        assert_eq!(v, val(rounds - 1), "{case} key{i}: an older value")
                    }
                    Err(Error::Corrupted) => assert!(at < next, "{case} key{i}"),
                    other => panic!("{case} key{i}: {other:?}"),
                }
                kept += usize::from(at >= next);
            }
            assert!(kept > 0, "{case}: some newest records lie after the span");
        }
        assert!(
            cases > 0,
            "span {span}: no layout put 0xFF value bytes at the unit's start"
        );
    }
}

/// The largest record of `config()` (`R`, FORMAT.md §6.2): a short header
/// (8 bytes), an 8-byte key and a 24-byte value.
const R: usize = 40;

/// Regions in order: bytes programmed past the log's end away from the
/// start of an erase unit escape the probes at open (FORMAT.md §10.2). They
/// are read before the log grows into their unit — by an append, or by
/// `maintain` — and then nothing is programmed over them and the log is
/// left by a switch. Within `R` of their unit's start they could be the
/// rest of a log that went on past a wiped unit: every key not written
/// since open reports `Corrupted` (they could hide newer values of it),
/// across a reopen too. From `R` on they are stray bytes: counted, and
/// every key keeps its value. What was written since open is kept in both.
#[test]
fn bytes_past_the_probes_are_found_before_an_append() {
    for (by_maintain, in_unit) in [(false, 20), (true, 20), (false, 100), (true, 100)] {
        let stray = in_unit >= R;
        let power = Power::default();
        let mut rig = Rig::new(&power, 4096, 4, config());
        {
            let mut s = rig.open().unwrap();
            for i in 0..4 {
                s.set(&key(i), &value(i, 0)).unwrap();
            }
            assert!(s.stats().used_bytes < 512);
        }
        // Stray bits in unit 6, past its first 8 bytes.
        let (from, to) = (6 * 256 + in_unit, 6 * 256 + in_unit + 4);
        rig.a.ram.data_mut()[from..to].fill(0x00);
        let mut s = rig.open().unwrap();
        assert_eq!(s.stats().damage_found_at_open, 0, "escapes the probes");
        assert_eq!(s.stats().damaged_keys, 0);
        let mut written = Vec::new();
        if by_maintain {
            for _ in 0..64 {
                s.maintain(1).unwrap();
                if s.stats().switches > 0 {
                    break;
                }
            }
        } else {
            for i in 10..60 {
                s.set(&key(i), &value(i, 1)).unwrap();
                written.push(i);
                if s.stats().switches > 0 {
                    break;
                }
            }
        }
        let what = format!("by_maintain={by_maintain}, {in_unit} bytes into the unit");
        assert_eq!(s.stats().switches, 1, "{what}");
        assert_eq!(s.stats().damaged_keys > 0, !stray, "{what}");
        assert_eq!(s.stats().stray_bytes_found, u32::from(stray), "{what}");
        let check = |s: &mut TestStore<'_, '_>| {
            for i in 0..4 {
                let got = get(s, &key(i));
                if stray {
                    assert_eq!(got.unwrap().unwrap(), value(i, 0), "key{i}: {what}");
                } else {
                    assert!(
                        matches!(got, Err(Error::Corrupted)),
                        "key{i}: written before open, not since: {what}"
                    );
                }
            }
            for &i in &written {
                assert_eq!(
                    get(s, &key(i)).unwrap().unwrap(),
                    value(i, 1),
                    "key{i}: {what}"
                );
            }
        };
        check(&mut s);
        drop(s);
        // Nothing was programmed in the unit holding the bytes.
        let (a, _) = rig.snapshot();
        for (i, &b) in a[6 * 256..7 * 256].iter().enumerate() {
            let at = 6 * 256 + i;
            let want = if (from..to).contains(&at) { 0x00 } else { 0xFF };
            assert_eq!(b, want, "byte {at}: {what}");
        }
        let mut s = rig.open().unwrap();
        check(&mut s);
        assert_eq!(s.stats().damage_found_at_open, 0, "{what}");
    }
}

/// As above, while an incremental switch copies (FORMAT.md §7.4): the lazy
/// read finds the bytes during the copy. Within `R` of their unit's start,
/// the records already copied are covered by an every-key damage record in
/// the target, the write folds into the switch's end, and no key reads a
/// value older than its newest. From `R` on (stray bytes) the write folds
/// into the switch's end too, and every key keeps its newest value.
#[test]
fn bytes_past_the_probes_found_while_a_switch_copies() {
    for in_unit in [20, 100] {
        bytes_found_while_a_switch_copies(in_unit);
    }
}

fn bytes_found_while_a_switch_copies(in_unit: usize) {
    let stray = in_unit >= R;
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config().with_ratios(5000, 5000));
    let val = |i: u32, round: u32| {
        let mut v = format!("v{i}.{round}").into_bytes();
        v.resize(24, b'.');
        v
    };
    let keys = 30;
    // The newest round of each key.
    let mut newest = vec![None; keys as usize];
    {
        let mut s = rig.open().unwrap();
        'fill: for round in 0.. {
            for i in 0..keys {
                s.set(&key(i), &val(i, round)).unwrap();
                newest[i as usize] = Some(round);
                if s.stats().used_bytes > 2950 {
                    break 'fill;
                }
            }
        }
        assert_eq!(s.stats().switches, 0);
        assert!(!s.stats().switching);
    }
    // Stray bits in unit 14, past its first 8 bytes: beyond what open reads.
    let (from, to) = (14 * 256 + in_unit, 14 * 256 + in_unit + 4);
    rig.a.ram.data_mut()[from..to].fill(0x00);
    let mut s = rig.open().unwrap();
    assert_eq!(s.stats().damage_found_at_open, 0);
    let mut copying_seen = false;
    let mut last = 0;
    for n in 0..100 {
        let i = n % keys;
        s.set(&key(i), &val(i, 1000 + n)).unwrap();
        newest[i as usize] = Some(1000 + n);
        last = i;
        if s.stats().switches > 0 {
            break;
        }
        copying_seen |= s.stats().switching;
    }
    assert!(copying_seen, "the finding came while the switch copies");
    assert_eq!(s.stats().switches, 1);
    assert_eq!(s.stats().stray_bytes_found, u32::from(stray));
    let check = |s: &mut TestStore<'_, '_>| {
        for i in 0..keys {
            let round = newest[i as usize].unwrap();
            match get(s, &key(i)) {
                Ok(Some(v)) => assert_eq!(v, val(i, round), "key{i}: {in_unit}"),
                // Copied before the finding: covered by the damage record.
                Err(Error::Corrupted) => {
                    assert!(!stray, "key{i}: {in_unit} bytes into the unit");
                    assert_ne!(i, last, "the write acknowledged last");
                }
                other => panic!("key{i}: {other:?}, {in_unit} bytes into the unit"),
            }
        }
    };
    check(&mut s);
    assert_eq!(s.stats().damaged_keys > 0, !stray);
    drop(s);
    let (a, _) = rig.snapshot();
    for (i, &b) in a[14 * 256..15 * 256].iter().enumerate() {
        let at = 14 * 256 + i;
        let want = if (from..to).contains(&at) { 0x00 } else { 0xFF };
        assert_eq!(b, want, "byte {at}");
    }
    let mut s = rig.open().unwrap();
    check(&mut s);
}

/// Regions in order: a bit flipped at every byte past the log's end, in
/// erased space, then a reopen, writes until a switch leaves the region,
/// and another reopen (FORMAT.md §6.2). Every acknowledged value reads back
/// in every case, except where the flipped byte lies within `R` of its erase
/// unit's start and at least `R` past the log's end: there it could be the
/// rest of a log that went on past a wiped unit, and the keys written
/// before the first reopen report `Corrupted`, never an older value. Within
/// `R` of the log's end a flip is what a cut can leave (a dirty tail); from
/// `R` into its unit on it is stray bytes, found by open in the log end's
/// unit and by the read before an append in later units, and counted.
#[test]
fn a_flip_past_the_log_end_covers_no_key_from_r_into_its_unit() {
    // Log ends at 244 (R past it is in the next unit) and at 540.
    for front in Front::BOTH {
        for keys in [4, 12] {
            flip_past_the_log_end(keys, front);
        }
    }
}

fn flip_past_the_log_end(keys: u32, front: Front) {
    let (size, e) = (4096usize, 256usize);
    let end = {
        let power = Power::default();
        let mut rig = Rig::new(&power, size as u32, 4, config());
        let mut s = rig.open().unwrap();
        for i in 0..keys {
            s.set(&key(i), &value(i, 0)).unwrap();
        }
        D + s.stats().used_bytes as usize
    };
    let (mut stray_at_open, mut stray_later, mut covered, mut torn) = (0, 0, 0, 0);
    let mut unreached = 0;
    for at in end..size {
        let power = Power::default();
        let mut rig = Rig::new(&power, size as u32, 4, config());
        {
            let mut s = rig.open().unwrap();
            for i in 0..keys {
                s.set(&key(i), &value(i, 0)).unwrap();
            }
        }
        rig.a.ram.data_mut()[at] ^= 0x10;
        let ambiguous = at >= end + R && at % e < R;
        let mut s = rig.open_as(front).unwrap();
        let at_open = s.stats().stray_bytes_found;
        let mut written = Vec::new();
        for n in 0..200u32 {
            let i = 100 + n % 40;
            s.set(&key(i), &value(i, n)).unwrap();
            written.retain(|&(k, _)| k != i);
            written.push((i, n));
            if s.stats().switches > 0 {
                break;
            }
        }
        assert_eq!(s.stats().switches, 1, "byte {at}");
        let strays = s.stats().stray_bytes_found;
        let check = |s: &mut DynStore<'_, RamError>| {
            let get = |s: &mut DynStore<'_, RamError>, k: &[u8]| {
                let mut buf = [0u8; 32];
                s.get(k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()))
            };
            for i in 0..keys {
                match get(s, &key(i)) {
                    Ok(Some(v)) => assert_eq!(v, value(i, 0), "key{i}, byte {at}"),
                    Err(Error::Corrupted) => assert!(ambiguous, "key{i}, byte {at}"),
                    other => panic!("key{i}, byte {at}: {other:?}"),
                }
            }
            let last = written.last().map(|&(k, _)| k);
            for &(i, n) in &written {
                match get(s, &key(i)) {
                    Ok(Some(v)) => assert_eq!(v, value(i, n), "key{i}, byte {at}"),
                    // Copied by a switch before the finding: covered by the
                    // every-key damage record the target carries.
                    Err(Error::Corrupted) => {
                        assert!(ambiguous && Some(i) != last, "key{i}, byte {at}")
                    }
                    other => panic!("key{i}, byte {at}: {other:?}"),
                }
            }
        };
        check(&mut s);
        let damaged = s.stats().damaged_keys > 0;
        drop(s);
        let mut s = rig.open_as(front).unwrap();
        check(&mut s);
        match (ambiguous, at < end + R) {
            // Found when the log reached its unit: the keys are covered.
            (true, _) if damaged => covered += 1,
            // The switch came before the log reached its unit.
            (true, _) => unreached += 1,
            (false, true) => {
                // A cut's reach: a dirty tail at open, nothing reported.
                assert_eq!((strays, damaged), (0, false), "byte {at}");
                torn += 1;
            }
            (false, false) => {
                assert!(!damaged, "byte {at}");
                match (at_open, strays) {
                    (1, 1) => stray_at_open += 1,
                    (0, 1) => stray_later += 1,
                    (0, 0) => unreached += 1,
                    other => panic!("byte {at}: stray bytes found {other:?}"),
                }
            }
        }
    }
    eprintln!(
        "{front:?}, log end {end}: {torn} within R of it, {stray_at_open} stray found by open, \
         {stray_later} stray found later, {covered} covering the keys, {unreached} \
         not reached before the switch"
    );
    // In the log end's unit, everything from `end + R` on is read by open.
    assert_eq!(stray_at_open, ((end / e + 1) * e).saturating_sub(end + R));
    assert_eq!(torn, R);
    // Per unit the log reached: R bytes cover the keys, e − R are stray.
    assert!(covered > 0 && stray_later >= (e - R) / R * covered);
}

/// Regions in order: a stray erase wipes the erase unit holding the log's
/// last records while the store is open, and the next set is torn by a cut
/// (or not cut). A wiped last unit reads as a crash (the log ends before
/// it: "What twinkv does not protect against"), with or without stray
/// bytes after it (FORMAT.md §6.2). Where the set's record starts `R` or
/// more into that unit, the read before the append finds the log's tail
/// gone: nothing is programmed there and the set switches, so the lost
/// records report `Corrupted` instead. Keys read their newest value,
/// `Corrupted`, or, only where a cut left the wiped unit as the log's end,
/// a value they had before; never one they never had; the set, if
/// acknowledged, reads back or reports `Corrupted`. (Fuzz input
/// `erased-log-end-unit-then-torn-set-past-r-is-no-stray-bytes`: there the
/// erased slot lay before the commit's data end, which stray bytes need.)
#[test]
fn a_unit_erased_while_open_is_found_before_the_next_append() {
    let (mut found, mut cases, mut strays) = (0, 0, 0);
    // The new record, 36 bytes: torn, its bytes may lie up to 35 bytes
    // past where the store appends it.
    let new = [0x5A; 24];
    let cuts = [None, Some(0), Some(1), Some(3), Some(8), Some(40)];
    for (n, cut, seed) in (1..90u32).flat_map(|n| {
        cuts.iter()
            .flat_map(move |&c| (0..if c.is_some() { 4 } else { 1 }).map(move |k| (n, c, k)))
    }) {
        let power = Power::default();
        let mut rig = Rig::new(&power, 4096, 4, config());
        let mut history: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 8];
        let end;
        let acked;
        {
            let mut s = rig.open().unwrap();
            for k in 0..n {
                let i = k % 8;
                // 8 to 24 bytes: the log's end lands at every offset.
                let mut v = value(i, k);
                v.resize(8 + (k as usize * 7) % 17, b'.');
                s.set(&key(i), &v).unwrap();
                history[i as usize].push(v);
            }
            if s.stats().switches > 0 {
                continue;
            }
            end = D + s.stats().used_bytes as usize;
            if end <= 256 {
                // Unit 0 holds the region's header too (refused as
                // `Unrecognised` once erased).
                continue;
            }
            power.strike(Strike {
                region: 0,
                kind: StrikeKind::EraseUnit,
                offset: (end - 1) as u32,
            });
            if let Some(c) = cut {
                power.cut_after(c, TearMode::Subset, u64::from(n) * 8 + seed);
            }
            acked = s.set(b"new", &new).is_ok();
            found += usize::from(acked && s.stats().switches > 0);
            if cut.is_none() && end % 256 >= R {
                // The record would start `R` into the wiped unit: not
                // programmed there; the set switched instead.
                assert_eq!(s.stats().switches, 1, "{n} sets, log end {end}");
            }
        }
        rig.restore();
        cases += 1;
        let what = format!("{n} sets, log end {end}, cut {cut:?}, seed {seed}");
        let mut s = rig.open().unwrap();
        strays += s.stats().stray_bytes_found;
        if end % 256 >= R {
            assert_eq!(s.stats().stray_bytes_found, 0, "{what}");
        }
        for i in 0..8 {
            let h = &history[i as usize];
            match get(&mut s, &key(i)) {
                Ok(Some(v)) => assert!(h.contains(&v), "key{i}: {v:?}, {what}"),
                Ok(None) => assert!(cut.is_some() || h.is_empty(), "key{i} absent, {what}"),
                Err(Error::Corrupted) => {}
                other => panic!("key{i}: {other:?}, {what}"),
            }
            if cut.is_none() {
                // No cut: the newest value or `Corrupted`, never older.
                if let Ok(Some(v)) = get(&mut s, &key(i)) {
                    assert_eq!(Some(&v), h.last(), "key{i}, {what}");
                }
            }
        }
        if acked {
            // Or `Corrupted`: sets after a gap are unproven records
            // (FORMAT.md §6.2) when nothing but sets follows them.
            match get(&mut s, b"new") {
                Ok(v) => assert_eq!(v.as_deref(), Some(&new[..]), "{what}"),
                Err(e) => assert!(matches!(e, Error::Corrupted), "{what}"),
            }
        }
    }
    eprintln!(
        "{cases} cases, {found} sets that found the wiped tail and switched, \
         {strays} opens that counted stray bytes (a tear, the wiped unit the log's end)"
    );
    assert!(found > 0);
}
