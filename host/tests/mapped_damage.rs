//! Records damaged on a mapped file while the store is open:
//!
//! - a value that `get` has read before (which left a fingerprint on its
//!   index entry, so that later `get`s compare the record's bytes against
//!   it rather than computing its CRC-32C again): the next `get` answers
//!   `Corrupted`, whichever byte changed;
//! - a deletion, in the one case the index keeps one (its key has a damage
//!   entry): `get` (core's `get_ref`, bytes borrowed from the mapping),
//!   `contains_key` and `iter` answer `Corrupted`, never "absent". Core's
//!   `tests/deleted_damage.rs` checks the copying reads on flash.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use twinkv_host::{Options, Store};

fn options() -> Options {
    Options::new().region_size(2048).limits(16, 64)
}

fn key(k: u8) -> Vec<u8> {
    format!("del-key-{k}").into_bytes()
}

/// Offsets of `needle` in the file at `path`.
fn find(path: &Path, needle: &[u8]) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at as u64)
        .collect()
}

/// XORs `mask` into the byte at `at` of the file, through the file (the
/// store's shared mapping sees it).
fn flip(path: &Path, at: u64, mask: u8) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= mask;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&b).unwrap();
}

#[test]
fn damaged_deletion_on_a_mapping_reads_as_corrupted() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let (a, b) = twinkv_host::region_paths(&base);
    let len = 8 + key(1).len() as u64;
    for byte in 0..len {
        let ctx = format!("byte {byte}");
        for p in [&a, &b] {
            let _ = std::fs::remove_file(p);
        }
        {
            let mut s = Store::open(&base, options()).unwrap();
            for k in 0..3 {
                s.set(key(k), b"value").unwrap();
            }
            s.close().unwrap();
        }
        // Key 1's value damaged at rest: the next open records it.
        let file = [&a, &b]
            .into_iter()
            .find(|p| find(p, &key(1)).len() == 1)
            .expect("one file holds key 1")
            .clone();
        flip(&file, find(&file, &key(1))[0] + key(1).len() as u64, 0x04);
        let mut s = Store::open(&base, options()).unwrap();
        assert_eq!(s.stats().unwrap().damage_found_at_open, 1, "{ctx}");
        assert!(s.get(key(1)).unwrap_err().is_corruption(), "{ctx}");
        // The deletion is kept in the index over the damage entry.
        s.remove(key(1)).unwrap();
        assert_eq!(s.get(key(1)).unwrap(), None, "{ctx}");
        // `iter`: one error for the damage entry (its key is not known).
        let errors = |s: &Store| s.iter().filter(|r| r.is_err()).count();
        assert_eq!(errors(&s), 1, "{ctx}");
        let hits = find(&file, &key(1));
        assert_eq!(hits.len(), 2, "{ctx}: the deletion is in the same file");
        flip(&file, hits[1] - 8 + byte, 0x01);
        assert!(s.get(key(1)).unwrap_err().is_corruption(), "{ctx}");
        assert!(s.contains_key(key(1)).unwrap_err().is_corruption(), "{ctx}");
        // ... and one for the damaged deletion, in its place.
        assert_eq!(errors(&s), 2, "{ctx}");
        assert_eq!(s.get(key(0)).unwrap(), Some(&b"value"[..]), "{ctx}");
        drop(s);
    }
}

/// A value that `get` has read (once, or many times), then damaged on the
/// mapping in any byte of its record (header, key or value) by any of
/// several masks: the next `get` answers `Corrupted`, never the damaged
/// bytes or "absent"; with the byte restored, the value again. The other
/// keys read their values throughout.
#[test]
fn a_value_damaged_after_gets_reads_as_corrupted() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let mut s = Store::open(&base, options()).unwrap();
    let value = |k: u8| format!("value-{k}").into_bytes();
    for k in 0..3 {
        s.set(key(k), value(k)).unwrap();
    }
    s.sync().unwrap();
    let (a, b) = twinkv_host::region_paths(&base);
    let file = [&a, &b]
        .into_iter()
        .find(|p| find(p, &key(1)).len() == 1)
        .expect("one file holds key 1")
        .clone();
    // The short header's 8 bytes precede the key.
    let start = find(&file, &key(1))[0] - 8;
    let len = 8 + key(1).len() as u64 + value(1).len() as u64;
    for byte in 0..len {
        for mask in [0x01u8, 0x80, 0x24, 0xFF] {
            let ctx = format!("byte {byte} ^ {mask:#x}");
            for _ in 0..2 {
                assert_eq!(s.get(key(1)).unwrap(), Some(&value(1)[..]), "{ctx}");
            }
            flip(&file, start + byte, mask);
            match s.get(key(1)) {
                Err(e) if e.is_corruption() => {}
                other => panic!("{ctx}: {other:?}"),
            }
            assert!(s.contains_key(key(1)).unwrap_err().is_corruption(), "{ctx}");
            flip(&file, start + byte, mask);
            for k in [0, 2] {
                assert_eq!(s.get(key(k)).unwrap(), Some(&value(k)[..]), "{ctx}");
            }
        }
    }
    assert_eq!(s.get(key(1)).unwrap(), Some(&value(1)[..]));
}

/// Keys of 1 to 40 bytes with values of 0 to 120 bytes (all short records,
/// so every one can take the fingerprint path), each read three times; then, over and over, one byte
/// of the records' span in the file flipped by a random mask: every key
/// reads its value or `Corrupted`, never another value or "absent"; with the
/// byte restored, every key reads its value again.
#[test]
fn random_damage_under_gets_never_answers_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let opts = Options::new().region_size(64 * 1024).limits(40, 120);
    let mut s = Store::open(&base, opts).unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for i in 0..60u32 {
        let klen = 1 + (next() % 40) as usize;
        let mut k: Vec<u8> = (0..klen).map(|_| next() as u8).collect();
        k[0] = i as u8; // distinct keys
        let vlen = (next() % 121) as usize;
        let v: Vec<u8> = (0..vlen).map(|_| next() as u8).collect();
        s.set(&k, &v).unwrap();
        model.push((k, v));
    }
    s.sync().unwrap();
    for (k, v) in &model {
        for _ in 0..3 {
            assert_eq!(s.get(k).unwrap(), Some(&v[..]));
        }
    }
    // The span of the records: from the first key's to the last value's.
    let (a, b) = twinkv_host::region_paths(&base);
    let file = [&a, &b]
        .into_iter()
        .find(|p| find(p, &model[0].0).len() == 1)
        .expect("one file holds the records")
        .clone();
    let first = find(&file, &model[0].0)[0] - 8;
    let (lk, lv) = model.last().unwrap();
    let last = find(&file, lk)[0] + (lk.len() + lv.len()) as u64;
    let (mut seen, mut trials) = (0, 0);
    while trials < 400 {
        let at = first + next() % (last - first);
        let mask = (next() % 255 + 1) as u8;
        flip(&file, at, mask);
        trials += 1;
        let mut errors = 0;
        for (k, v) in &model {
            match s.get(k) {
                Ok(Some(got)) => assert_eq!(got, &v[..], "byte {at} ^ {mask:#x}"),
                Err(e) if e.is_corruption() => errors += 1,
                other => panic!("byte {at} ^ {mask:#x}: {other:?}"),
            }
        }
        seen += usize::from(errors > 0);
        flip(&file, at, mask);
        for (k, v) in &model {
            assert_eq!(s.get(k).unwrap(), Some(&v[..]), "restored byte {at}");
        }
    }
    // Padding bytes between records are no record's: most flips are seen.
    eprintln!("{seen} of {trials} flips seen");
    assert!(seen > trials * 3 / 4, "{seen} of {trials} flips seen");
}
