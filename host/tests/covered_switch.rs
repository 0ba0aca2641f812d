//! The covering marker a switch writes on files (FORMAT.md §6.4): the last
//! record before the commit's data end is a sync marker whose coverage is
//! the CRC-32C of everything the switch copied. Core's `tests/lend.rs`
//! holds open's use of it to the record-by-record walk, intact and damaged
//! at every byte; `damage_files` runs the damage harness through it.

use std::path::{Path, PathBuf};

use twinkv_core::format::area::SyncMarker;
use twinkv_core::format::record::{self, Kind, Slot};
use twinkv_core::format::{Layout, Marker, MarkerState, RegionHeader, Seal, HEADER_LEN};
use twinkv_core::RegionId;
use twinkv_host::{Error, Options, Store};

/// Write unit of region files.
const W: u32 = 4;

fn options() -> Options {
    Options::new().region_size(4096).limits(16, 64)
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:03}").into_bytes()
}

/// Values of 2 to 11 bytes, so that records of several lengths, padded
/// and not, lie in the span.
fn value(i: u32, round: u32) -> Vec<u8> {
    let mut v = format!("{round}:").into_bytes();
    v.resize(v.len() + (i % 10) as usize, b'v');
    v
}

const KEYS: u32 = 24;

/// A store on files whose active region was just written by a compaction:
/// returns the active region's path.
fn compacted(base: &Path) -> PathBuf {
    let mut st = Store::open(base, options()).unwrap();
    for round in 0..3 {
        for i in 0..KEYS {
            st.set(key(i), value(i, round)).unwrap();
        }
    }
    st.compact().unwrap();
    let active = st.stats().unwrap().active;
    st.close().unwrap();
    let (a, b) = twinkv_host::region_paths(base);
    match active {
        RegionId::A => a,
        RegionId::B => b,
    }
}

/// The region's seal and the commit's data end.
fn committed(bytes: &[u8]) -> (Seal, u32) {
    let header: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
    let h = RegionHeader::decode(header).unwrap();
    let seal = Seal {
        store_id: h.store_id,
        generation: h.generation,
    };
    let layout = Layout::new(W);
    let at = layout.slot(Marker::Commit) as usize;
    let MarkerState::Valid(end) =
        Marker::Commit.read(seal, &bytes[at..at + layout.marker_slot as usize])
    else {
        panic!("no valid commit");
    };
    (seal, end)
}

/// Offset of the covering marker: the last record before the data end.
fn marker_at(data_end: u32) -> u32 {
    data_end - record::stored_len(0, 8, W).unwrap()
}

fn check_every_key(base: &Path, ctx: &str) -> Store {
    let st = Store::open(base, options()).unwrap();
    for i in 0..KEYS {
        match st.get(key(i)) {
            Ok(Some(v)) => assert_eq!(v, value(i, 2), "{ctx}: key {i}: a wrong value"),
            Ok(None) => panic!("{ctx}: key {i} reads absent"),
            Err(Error::Core(twinkv_core::Error::Corrupted)) => {}
            Err(e) => panic!("{ctx}: key {i}: {e}"),
        }
    }
    st
}

#[test]
fn a_switch_on_files_ends_its_copy_with_a_covering_marker() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let path = compacted(&base);
    let bytes = std::fs::read(&path).unwrap();
    let (seal, data_end) = committed(&bytes);
    let d = Layout::new(W).data_start();
    let at = marker_at(data_end);
    let Slot::Header(h) = record::decode_header(&bytes[at as usize..], 16, 64) else {
        panic!("no record header at {at}");
    };
    assert_eq!(h.kind, Kind::SyncMarker);
    assert!(record::verify(&bytes[at as usize..], &h, seal), "intact");
    let v = &bytes[(at + h.header_len()) as usize..][..8];
    let m = SyncMarker::from_value(v).unwrap();
    assert_eq!(m.prev_sync, d, "its previous sync point is the data start");
    assert!(m.covers(&bytes, at, d), "its coverage is the copied span's");
    // Every record before it was copied by the switch: one per key, then
    // the erased record.
    let mut off = d;
    let mut kinds = Vec::new();
    while off < at {
        let Slot::Header(h) = record::decode_header(&bytes[off as usize..], 16, 64) else {
            panic!("no record at {off}");
        };
        kinds.push(h.kind);
        off += h.stored_len(W).unwrap();
    }
    assert_eq!(off, at);
    assert_eq!(
        kinds.iter().filter(|k| **k == Kind::Set).count(),
        KEYS as usize
    );
    assert_eq!(kinds.last(), Some(&Kind::Erased));
    let st = check_every_key(&base, "intact");
    assert_eq!(st.stats().unwrap().damage_found_at_open, 0);
}

/// A store at `base` written until a switch spread over its writes has
/// committed.
fn spread_switch(base: &Path) -> Store {
    let mut st = Store::open(base, options().compact_on_close(None)).unwrap();
    let mut i = 0;
    while st.stats().unwrap().switches == 0 || st.stats().unwrap().commit_pending {
        st.set(key(i % KEYS), value(i, i)).unwrap();
        i += 1;
        assert!(i < 10_000, "no switch");
    }
    st
}

/// A switch whose copy is spread over writes ends it with a covering marker
/// too, fed slice by slice: the record before the commit's data end is the
/// marker, with the copied span's coverage.
#[test]
fn a_switch_spread_over_writes_is_covered_too() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let st = spread_switch(&base);
    let active = st.stats().unwrap().active;
    let values: Vec<_> = (0..KEYS)
        .map(|i| st.get(key(i)).unwrap().map(|v| v.to_vec()))
        .collect();
    st.close().unwrap();
    let (a, b) = twinkv_host::region_paths(&base);
    let bytes = std::fs::read(if active == RegionId::A { a } else { b }).unwrap();
    let (seal, data_end) = committed(&bytes);
    let at = marker_at(data_end);
    let Slot::Header(h) = record::decode_header(&bytes[at as usize..], 16, 64) else {
        panic!("no record before the data end");
    };
    assert_eq!(h.kind, Kind::SyncMarker);
    assert!(record::verify(&bytes[at as usize..], &h, seal), "intact");
    let m = SyncMarker::from_value(&bytes[(at + h.header_len()) as usize..][..8]).unwrap();
    let d = Layout::new(W).data_start();
    assert_eq!(m.prev_sync, d);
    assert!(m.covers(&bytes, at, d), "its coverage is the copied span's");
    let st = Store::open(&base, options()).unwrap();
    assert_eq!(st.stats().unwrap().damage_found_at_open, 0);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            &st.get(key(i as u32)).unwrap().map(|v| v.to_vec()),
            v,
            "key {i}"
        );
    }
}

/// `Stats::uncovered_bytes`: what an open checks record by record. After a
/// one-call switch only the covering marker itself and what was appended
/// since; the same after a reopen that found the marker's coverage
/// matching; all of the log when it does not match. A switch spread over
/// writes covers its copy the same way.
#[test]
fn uncovered_bytes_follow_the_covered_span() {
    let marker = record::stored_len(0, 8, W).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let path = compacted(&base);
    let mut st = Store::open(&base, options().compact_on_close(None)).unwrap();
    let s = st.stats().unwrap();
    assert_eq!(s.uncovered_bytes, marker, "after a reopen: {s:?}");
    assert!(s.used_bytes > 20 * marker);
    st.set(key(0), value(0, 2)).unwrap();
    let one = record::stored_len(key(0).len() as u32, value(0, 2).len() as u32, W).unwrap();
    assert_eq!(st.stats().unwrap().uncovered_bytes, marker + one);
    st.compact().unwrap();
    assert_eq!(st.stats().unwrap().uncovered_bytes, marker, "after compact");
    st.close().unwrap();

    // A value byte changed inside the span: the coverage no longer matches,
    // the whole log is checked record by record.
    let path = {
        let (a, b) = twinkv_host::region_paths(&base);
        if path == a {
            b
        } else {
            a
        }
    };
    let mut bytes = std::fs::read(&path).unwrap();
    let (_, data_end) = committed(&bytes);
    let d = Layout::new(W).data_start();
    let Slot::Header(h) = record::decode_header(&bytes[d as usize..], 16, 64) else {
        panic!("no first record");
    };
    assert!(h.value_len > 0 && data_end > d);
    bytes[(d + h.header_len() + h.key_len) as usize] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let st = Store::open(&base, options().compact_on_close(None)).unwrap();
    let s = st.stats().unwrap();
    assert_eq!(s.damage_found_at_open, 1, "{s:?}");
    assert_eq!(s.uncovered_bytes, s.used_bytes, "damaged span: {s:?}");
    drop(st);

    // A switch spread over writes: its copy is covered too; the writes
    // since its commit are not.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let mut st = spread_switch(&base);
    st.sync().unwrap();
    let s = st.stats().unwrap();
    assert!(s.uncovered_bytes >= marker, "{s:?}");
    assert!(s.uncovered_bytes < s.used_bytes / 2, "{s:?}");
    st.close().unwrap();
    let st = Store::open(&base, options().compact_on_close(None)).unwrap();
    assert_eq!(st.stats().unwrap().uncovered_bytes, s.uncovered_bytes);
}
