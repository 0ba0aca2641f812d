//! An open that finds a growth or a resize unfinished settles the inactive
//! file (cuts its extension off, or completes it) without opening core a
//! second time: the active log is replayed once (`hooks::take_core_opens`).

use std::collections::HashMap;

use twinkv_host::hooks;
use twinkv_host::{Options, Store};

type Model = HashMap<Vec<u8>, Vec<u8>>;

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:011}").into_bytes()
}

fn value(i: usize, round: usize) -> Vec<u8> {
    format!("v{round:04}-{i:09}").into_bytes()
}

fn file_lens(s: &Store) -> (u64, u64) {
    let (a, b) = s.file_paths();
    (
        std::fs::metadata(a).unwrap().len(),
        std::fs::metadata(b).unwrap().len(),
    )
}

fn check(s: &Store, model: &Model) {
    assert_eq!(&s.to_hashmap().unwrap(), model, "contents");
}

/// Writes `n` keys of round `round` into `s` and `model`.
fn write(s: &mut Store, model: &mut Model, n: usize, round: usize) {
    for i in 0..n {
        let (k, v) = (key(i), value(i, round));
        s.set(&k, &v).unwrap();
        model.insert(k, v);
    }
}

#[test]
fn a_growth_left_unfinished_is_cut_off_with_one_replay() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("kv");
    // 512 KiB regions: 6,000 keys (240 KB live) pass half the fill limit, so
    // growth has begun extending the inactive file. No compaction on close:
    // the reopen finds the extension.
    let options = Options::new()
        .region_size(512 * 1024)
        .compact_on_close(None);
    let mut s = Store::open(&base, options).unwrap();
    let mut model = Model::new();
    write(&mut s, &mut model, 6_000, 0);
    let (la, lb) = file_lens(&s);
    assert!(la != lb, "a growth is under way: files of {la} and {lb} B");
    // The active region's size: the unfinished growth is given up (the next
    // one starts again).
    let sizes = s.region_sizes();
    let size = match s.stats().unwrap().active {
        twinkv_host::RegionId::A => sizes.0,
        twinkv_host::RegionId::B => sizes.1,
    };
    s.close().unwrap();
    hooks::take_core_opens();
    let mut s = Store::open(&base, Options::new()).unwrap();
    assert_eq!(
        hooks::take_core_opens(),
        1,
        "the open replayed the log once"
    );
    assert_eq!(s.region_sizes(), (size, size));
    assert_eq!(
        file_lens(&s),
        (u64::from(size), u64::from(size)),
        "extension cut off"
    );
    check(&s, &model);
    // The store goes on (a growth starts again) and reopens.
    write(&mut s, &mut model, 6_000, 1);
    s.close().unwrap();
    let s = Store::open(&base, Options::new()).unwrap();
    check(&s, &model);
}

#[test]
fn a_resize_cut_after_its_switch_is_completed_with_one_replay() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("kv");
    let mut s = Store::open(&base, Options::new().region_size(64 * 1024)).unwrap();
    let mut model = Model::new();
    write(&mut s, &mut model, 500, 0);
    // The second fill (the other file, after the switch) fails: the active
    // region has the new size, the inactive file the old one.
    hooks::enospc_at_fill(2);
    let e = s.resize(256 * 1024).unwrap_err();
    hooks::enospc_at_fill(0);
    assert!(e.to_string().contains("No space left"), "{e}");
    let (la, lb) = file_lens(&s);
    assert_eq!(la.max(lb), 256 * 1024);
    assert_eq!(la.min(lb), 64 * 1024);
    drop(s);
    hooks::take_core_opens();
    let mut s = Store::open(&base, Options::new()).unwrap();
    assert_eq!(
        hooks::take_core_opens(),
        1,
        "the open replayed the log once"
    );
    assert_eq!(s.region_sizes(), (256 * 1024, 256 * 1024));
    assert_eq!(file_lens(&s), (256 * 1024, 256 * 1024));
    check(&s, &model);
    // Switches go through the grown region: enough rounds of overwrites to
    // switch several times, then a reopen.
    let g = s.stats().unwrap().generation;
    for round in 1..40 {
        write(&mut s, &mut model, 500, round);
    }
    assert!(s.stats().unwrap().generation >= g + 2, "switched");
    s.close().unwrap();
    let s = Store::open(&base, Options::new()).unwrap();
    check(&s, &model);
}
