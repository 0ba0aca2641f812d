//! The index checkpoint file (`<path>.ckpt`, FORMAT.md §11): a clean close
//! writes it, the next open loads the index from it and replays only the
//! log written after it; a checkpoint that does not match the files (the
//! log damaged or rewritten since, another generation, a torn or foreign
//! file, anything but a regular file at its path) is ignored, and the open
//! is then exactly an open without one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use twinkv_host::{checkpoint_path, region_paths, Options, Store};

type Model = HashMap<Vec<u8>, Vec<u8>>;

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}

/// Writes `n` keys then `n` overwrites of half of them and a few removes,
/// into the model as well.
fn fill(s: &mut Store, model: &mut Model, n: usize, round: usize) {
    for i in 0..n {
        let v = format!("r{round}-{i}").into_bytes();
        s.set(key(i), &v).unwrap();
        model.insert(key(i), v);
    }
    for i in (0..n).step_by(2) {
        let v = format!("r{round}-again-{i}").into_bytes();
        s.set(key(i), &v).unwrap();
        model.insert(key(i), v);
    }
    for i in (0..n).step_by(7) {
        s.remove(key(i)).unwrap();
        model.remove(&key(i));
    }
}

fn check(s: &Store, model: &Model, n: usize, ctx: &str) {
    for i in 0..n + 10 {
        assert_eq!(
            s.get(key(i)).unwrap(),
            model.get(&key(i)).map(Vec::as_slice),
            "{ctx}: key {i}"
        );
    }
    assert_eq!(s.len(), model.len(), "{ctx}");
}

/// What an open shows that a replay sets (stats without the switch count).
fn shown(s: &Store) -> (u64, u32, u32, u32, usize, usize, u32, bool, u32) {
    let st = s.stats().unwrap();
    (
        st.generation,
        st.used_bytes,
        st.uncovered_bytes,
        st.live_bytes,
        st.live_keys,
        st.damaged_keys,
        st.damage_found_at_open,
        st.dirty_tail,
        st.erase_pending,
    )
}

fn options() -> Options {
    // No compaction on close: the log the checkpoint covers stays as it is.
    Options::new().compact_on_close(None)
}

/// The same files opened without the checkpoint show what `s` shows.
fn same_as_without(base: &Path, s: Store, model: &Model, n: usize, ctx: &str) {
    let with = shown(&s);
    check(&s, model, n, ctx);
    // Dropped without writing anything (no checkpoint either).
    drop(s);
    let plain = Store::open(base, options().index_checkpoint(false)).unwrap();
    assert!(!plain.opened_from_checkpoint());
    assert_eq!(shown(&plain), with, "{ctx}");
    check(&plain, model, n, ctx);
    // Closed without a checkpoint: the file stays as it was.
    drop(plain);
}

/// A store of `n` keys (see [`fill`]), closed: a checkpoint written.
fn closed(n: usize) -> (tempfile::TempDir, PathBuf, Model) {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("s");
    let mut model = Model::new();
    let mut s = Store::open(&base, options()).unwrap();
    fill(&mut s, &mut model, n, 0);
    s.close().unwrap();
    assert!(checkpoint_path(&base).is_file());
    (d, base, model)
}

#[test]
fn a_close_writes_a_checkpoint_that_the_next_open_takes() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("s");
    let mut model = Model::new();
    let mut s = Store::open(&base, options()).unwrap();
    fill(&mut s, &mut model, 2000, 0);
    assert!(!checkpoint_path(&base).exists());
    s.close().unwrap();
    assert!(checkpoint_path(&base).is_file());
    let s = Store::open(&base, options()).unwrap();
    assert!(s.opened_from_checkpoint());
    same_as_without(&base, s, &model, 2000, "after a close");
    // A switch (the store grows past its first size) and more writes.
    let mut s = Store::open(&base, options()).unwrap();
    fill(&mut s, &mut model, 30_000, 1);
    assert!(s.stats().unwrap().switches > 0 || s.stats().unwrap().generation > 1);
    s.close().unwrap();
    let s = Store::open(&base, options()).unwrap();
    assert!(s.opened_from_checkpoint());
    same_as_without(&base, s, &model, 30_000, "after a switch and a close");
}

#[test]
fn writes_after_the_checkpoint_are_replayed_after_a_crash() {
    let (_d, base, mut model) = closed(1000);
    // Reopened from the checkpoint; then written and killed (the writes
    // are in the shared mapping; nothing is synced or checkpointed).
    let mut s = Store::open(&base, options().sync_on_close(false)).unwrap();
    assert!(s.opened_from_checkpoint());
    fill(&mut s, &mut model, 1200, 1);
    drop(s);
    let s = Store::open(&base, options()).unwrap();
    assert!(s.opened_from_checkpoint(), "the log before it is unchanged");
    same_as_without(&base, s, &model, 1200, "after a crash");
}

#[test]
fn damage_to_the_log_while_closed_drops_the_checkpoint_and_is_reported() {
    let (_d, base, _model) = closed(500);
    let (active_a, used) = {
        let s = Store::open_read_only(&base).unwrap();
        let st = s.stats().unwrap();
        (st.active == twinkv_host::RegionId::A, st.used_bytes)
    };
    let (pa, pb) = region_paths(&base);
    let path = if active_a { pa } else { pb };
    let clean = std::fs::read(&path).unwrap();
    let ckpt = std::fs::read(checkpoint_path(&base)).unwrap();
    // Bytes in the middle of the log (84 = its data start) and at its end.
    let mut reports = 0;
    let mid = 84 + used as usize / 2;
    let positions = (mid..mid + 16).chain(84 + used as usize - 16..84 + used as usize + 16);
    for at in positions {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(checkpoint_path(&base), &ckpt).unwrap();
        // Each open holds the lock until it is dropped, at the end of `map`.
        let seen = |s: Store| {
            let reads: Vec<_> = (0..510)
                .map(|i| {
                    s.get(key(i))
                        .map(|v| v.map(<[u8]>::to_vec))
                        .map_err(|e| e.to_string())
                })
                .collect();
            (shown(&s), reads, s.opened_from_checkpoint())
        };
        let with = Store::open(&base, options().sync_on_close(false)).map(seen);
        let no_checkpoint = options().index_checkpoint(false).sync_on_close(false);
        let plain = Store::open(&base, no_checkpoint).map(seen);
        match (&with, &plain) {
            (Ok(a), Ok(b)) => {
                assert!(!a.2, "byte {at}: taken over damage");
                assert_eq!(a.0, b.0, "byte {at}");
                assert_eq!(a.1, b.1, "byte {at}");
                // (A flipped padding byte is harmless: no check covers it.)
                let reported = a.0 .6 > 0 || a.0 .7 || a.1.iter().any(Result::is_err);
                reports += usize::from(reported);
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "byte {at}"),
            _ => panic!("byte {at}: {:?} / {:?}", with.is_ok(), plain.is_ok()),
        }
    }
    assert!(reports >= 24, "{reports} of 48 flips reported");
}

#[test]
fn a_torn_foreign_or_stale_checkpoint_is_ignored() {
    let (_d, base, model) = closed(300);
    let ckpt = std::fs::read(checkpoint_path(&base)).unwrap();
    let mut bad: Vec<Vec<u8>> = vec![
        Vec::new(),
        ckpt[..ckpt.len() / 2].to_vec(),
        ckpt[..ckpt.len() - 1].to_vec(),
        vec![0xFF; ckpt.len()],
        b"not a checkpoint".to_vec(),
    ];
    for at in [0, 11, 30, 40, 70, ckpt.len() - 9, ckpt.len() - 1] {
        let mut b = ckpt.clone();
        b[at] ^= 1;
        bad.push(b);
    }
    for (i, b) in bad.iter().enumerate() {
        std::fs::write(checkpoint_path(&base), b).unwrap();
        let s = Store::open(&base, options().sync_on_close(false)).unwrap();
        assert!(!s.opened_from_checkpoint(), "case {i}");
        same_as_without(&base, s, &model, 300, &format!("case {i}"));
    }
    // Stale: the checkpoint of an older generation.
    let mut s = Store::open(&base, options()).unwrap();
    s.compact().unwrap();
    s.close().unwrap();
    std::fs::write(checkpoint_path(&base), &ckpt).unwrap();
    let s = Store::open(&base, options()).unwrap();
    assert!(!s.opened_from_checkpoint());
    check(&s, &model, 300, "stale");
    // That close replaced the stale file with a checkpoint of this state.
    s.close().unwrap();
    assert_ne!(std::fs::read(checkpoint_path(&base)).unwrap(), ckpt);
    assert!(Store::open(&base, options())
        .unwrap()
        .opened_from_checkpoint());
}

#[test]
fn anything_but_a_regular_file_at_the_path_is_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("s");
    let mut model = Model::new();
    std::fs::create_dir(checkpoint_path(&base)).unwrap();
    let mut s = Store::open(&base, options()).unwrap();
    fill(&mut s, &mut model, 100, 0);
    s.close().unwrap();
    assert!(checkpoint_path(&base).is_dir());
    let s = Store::open(&base, options()).unwrap();
    assert!(!s.opened_from_checkpoint());
    check(&s, &model, 100, "directory");
    s.close().unwrap();
    std::fs::remove_dir(checkpoint_path(&base)).unwrap();
    #[cfg(unix)]
    {
        // A FIFO: never opened (an open of it would block).
        let made = std::process::Command::new("mkfifo")
            .arg(checkpoint_path(&base))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if made {
            let s = Store::open(&base, options()).unwrap();
            assert!(!s.opened_from_checkpoint());
            check(&s, &model, 100, "fifo");
            s.close().unwrap();
            let meta = std::fs::symlink_metadata(checkpoint_path(&base)).unwrap();
            assert!(!meta.is_file(), "the FIFO was replaced");
        }
    }
}

#[test]
fn off_no_checkpoint_is_written_or_read() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("s");
    let mut model = Model::new();
    let mut s = Store::open(&base, options().index_checkpoint(false)).unwrap();
    fill(&mut s, &mut model, 100, 0);
    s.close().unwrap();
    assert!(!checkpoint_path(&base).exists());
    let s = Store::open(&base, options()).unwrap();
    assert!(!s.opened_from_checkpoint());
    s.close().unwrap();
    // Written by that close; not read with the option off.
    assert!(checkpoint_path(&base).is_file());
    let s = Store::open(&base, options().index_checkpoint(false)).unwrap();
    assert!(!s.opened_from_checkpoint());
    check(&s, &model, 100, "off");
    // Read-only opens never use one.
    drop(s);
    let r = Store::open_read_only(&base).unwrap();
    assert!(!r.opened_from_checkpoint());
    check(&r, &model, 100, "read-only");
}

#[test]
fn the_write_that_commits_a_switch_writes_one() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("s");
    let mut model = Model::new();
    // Killed at the end: no close writes one.
    let mut s = Store::open(&base, options().sync_on_close(false)).unwrap();
    let g0 = s.stats().unwrap().generation;
    let mut i = 0;
    // Until a switch (the store grows past 1 MiB) has committed.
    while s.stats().unwrap().generation == g0 || s.stats().unwrap().switching {
        let v = format!("value-{i}").into_bytes();
        s.set(key(i % 20_000), &v).unwrap();
        model.insert(key(i % 20_000), v);
        i += 1;
        assert!(i < 1_000_000, "no switch");
    }
    // Less than 1 MiB was written: the write that committed the switch
    // wrote the checkpoint, of the new generation.
    let generation = s.stats().unwrap().generation;
    let c = std::fs::read(checkpoint_path(&base)).unwrap();
    assert_eq!(c[20..28], generation.to_le_bytes());
    s.set(key(0), b"after the switch").unwrap();
    model.insert(key(0), b"after the switch".to_vec());
    drop(s);
    let s = Store::open(&base, options()).unwrap();
    assert!(s.opened_from_checkpoint());
    same_as_without(&base, s, &model, 20_000, "after a switch and a crash");
}
