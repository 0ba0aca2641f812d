//! An erase unit of the active region erased after the writes succeeded, when
//! the unit starts right after a set record, with erase ahead's erased record
//! (FORMAT.md §7.3) at its start: the fuzz finding
//! `fuzz/regressions/ops/erased-unit-takes-the-erase-ahead-record-after-the-last-set`.
//!
//! The unit holding the end of the log erased is damage a crash can also
//! leave (FORMAT.md §10.1): here a cut during the erase ahead that followed
//! the set, after its erase call returned and before its erased record was
//! programmed. Both leave the same bytes in both regions, so the store
//! handles the damage as that crash: the set before the unit is kept (it is
//! the last acknowledged write of that crash), never an older value of its
//! key, and nothing is reported (a crash recovers silently).

use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, MappedRegion, RamError, TearMode};

/// W = 1: header 48, three 12-byte marker slots, data from 84 (FORMAT.md §1).
const D: u32 = 84;
const UNIT: u32 = 256;

fn config() -> Config {
    // Erase ahead only in `maintain`, so the test places its erased record.
    Config::new(0xE7A5)
        .with_limits(8, 64)
        .with_erase_ahead(false)
}

fn get(s: &mut TestStore<'_, '_>, k: &[u8]) -> Result<Option<Vec<u8>>, Error<RamError>> {
    let mut buf = [0u8; 64];
    s.get(k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()))
}

fn key(i: u8) -> Vec<u8> {
    vec![b'a' + i]
}

const OLD: &[u8] = b"old value of k";
const NEW: &[u8] = b"new value of k";

/// The shared history: six keys, a compaction (region B active, A's used
/// units pending), `k = OLD`, fillers, then `k = mid` whose record ends
/// exactly at an erase unit's end `x`. Returns `(x, mid)`.
fn history(rig: &mut Rig<'_>) -> (u32, Vec<u8>) {
    let mut s = rig.open().unwrap();
    for i in 0..6 {
        s.set(&key(i), &[b'0' + i; 20]).unwrap();
    }
    s.compact().unwrap();
    let st = s.stats();
    assert_eq!(st.generation, 2);
    assert!(st.erase_pending > 0, "A's used units are pending");
    s.set(b"k", OLD).unwrap();
    // A short record of key "k" takes 8 + 1 + value bytes (W = 1).
    let gap = loop {
        let end = D + s.stats().used_bytes;
        let gap = match end % UNIT {
            0 => UNIT,
            r => UNIT - r,
        };
        if (10..=73).contains(&gap) {
            break gap;
        }
        s.set(b"z", &[b'z'; 64]).unwrap();
    };
    let mid = vec![b'm'; (gap - 9) as usize];
    s.set(b"k", &mid).unwrap();
    let x = D + s.stats().used_bytes;
    assert_eq!(x % UNIT, 0, "k's record ends at an erase unit's end");
    (x, mid)
}

fn check_opened(rig: &mut Rig<'_>, mid: &[u8]) {
    let mut s = rig.open().unwrap();
    let st = s.stats();
    assert_eq!(st.damage_found_at_open, 0, "{st:?}");
    assert!(!st.dirty_tail, "{st:?}");
    let got = get(&mut s, b"k").unwrap();
    assert_ne!(
        got.as_deref(),
        Some(OLD),
        "an older value than the log's last"
    );
    assert_eq!(got.as_deref(), Some(mid));
    for i in 0..6 {
        assert_eq!(get(&mut s, &key(i)).unwrap().unwrap(), [b'0' + i; 20]);
    }
    assert_eq!(get(&mut s, b"z").unwrap().map(|v| v.len()), Some(64));
    // The store goes on from there.
    s.set(b"k", NEW).unwrap();
    assert_eq!(get(&mut s, b"k").unwrap().as_deref(), Some(NEW));
}

#[test]
fn erased_unit_after_a_set_reads_as_a_cut_during_erase_ahead() {
    // Damage: erase ahead appends its erased record at x, a later write
    // (k = NEW, acknowledged) follows it in the same unit; then the unit
    // x..x + 256 is erased (all 0xFF).
    let power = Power::default();
    let mut damaged = Rig::new(&power, 4096, 1, config());
    let (x, mid) = history(&mut damaged);
    {
        let mut s = damaged.open().unwrap();
        assert_eq!(D + s.stats().used_bytes, x);
        assert!(s.maintain(1).unwrap(), "units still pending");
        let (_, b) = damaged_bytes(&s);
        assert_eq!(b[x as usize] & 0x0F, 8, "an erased record at x");
        s.set(b"k", NEW).unwrap();
        let end = D + s.stats().used_bytes;
        assert!(x < end && end < x + UNIT, "the log ends in x's unit");
    }
    damaged.b.ram.data_mut()[x as usize..(x + UNIT) as usize].fill(0xFF);

    // Crash: the same history, power cut during that erase ahead, after its
    // erase call returned (one step), before its erased record's first byte
    // was programmed (W = 1, prefix tear: the byte stays erased).
    let power2 = Power::default();
    let mut crashed = Rig::new(&power2, 4096, 1, config());
    let (x2, mid2) = history(&mut crashed);
    assert_eq!((x2, &mid2), (x, &mid));
    {
        let mut s = crashed.open().unwrap();
        power2.cut_after(1, TearMode::Prefix, 0);
        assert!(s.maintain(1).is_err(), "cut");
    }
    crashed.restore();

    // The same bytes in both regions: indistinguishable.
    assert!(
        damaged.snapshot() == crashed.snapshot(),
        "damage and crash leave the same regions"
    );
    check_opened(&mut crashed, &mid);
    check_opened(&mut damaged, &mid);
}

fn damaged_bytes(s: &TestStore<'_, '_>) -> (Vec<u8>, Vec<u8>) {
    let (a, b) = s.regions();
    (a.ram.as_bytes().to_vec(), b.ram.as_bytes().to_vec())
}
