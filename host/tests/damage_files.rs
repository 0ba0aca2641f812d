//! The damage harness on real files through the host `Store` (memory-mapped
//! file pair, W = 4, 512-byte sectors, default durability): the lifecycles,
//! faults and oracle of core's test kit (`twinkv_core::testkit::damage`), with
//! a 512-byte sector as the erase unit. Files do not persist in order, so E2
//! and E3 apply, E1 never.
//!
//! Quick mode in `cargo test`; every byte (one sampled bit per byte) with
//! `-- --ignored` (`.ci/stages/60-torture.sh`). Also issue 11's repros 1, 2
//! and 3 on files.

use std::path::{Path, PathBuf};

use twinkv_core::testkit::damage::*;
use twinkv_core::testkit::{batch_ops, Model, Write};
use twinkv_host::{Error, Options, Stats, Store};

const SIZE: u32 = 2048;
const SECTOR: u32 = 512;
/// Byte faults sampled per lifecycle in quick mode.
const QUICK_SAMPLE: usize = 60;

fn options() -> Options {
    Options::new().region_size(SIZE).limits(16, 64)
}

fn files(base: &Path) -> (PathBuf, PathBuf) {
    twinkv_host::region_paths(base)
}

fn read_image(base: &Path) -> Image {
    let (a, b) = files(base);
    [std::fs::read(a).unwrap(), std::fs::read(b).unwrap()]
}

fn write_image(base: &Path, img: &Image) {
    let (a, b) = files(base);
    std::fs::write(a, &img[0]).unwrap();
    std::fs::write(b, &img[1]).unwrap();
}

struct Build {
    s: Store,
    base: PathBuf,
}

impl Builder for Build {
    fn run(&mut self, step: &Write) {
        let s = &mut self.s;
        let r = match step {
            Write::Set(k, v) => s.set(k, v),
            Write::Delete(k) => s.remove(k).map(|_| ()),
            Write::Batch(ops) => s.apply(&batch_ops(ops)),
            Write::Clear => s.clear(),
            Write::Compact => s.compact(),
            Write::Repair => s.repair().map(|_| ()),
            Write::Sync => s.sync(),
        };
        r.unwrap_or_else(|e| panic!("building the store: {step:?}: {e:?}"));
    }
    fn stats(&mut self) -> Stats {
        self.s.stats().unwrap()
    }
    fn image(&mut self) -> Image {
        read_image(&self.base)
    }
}

fn build(dir: &Path, script: &[Entry]) -> Trace {
    let base = dir.join("build");
    let (a, b) = files(&base);
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
    let s = Store::open(&base, options()).expect("fresh store");
    let mut bld = Build { s, base };
    play(&mut bld, script, 4, SECTOR, false, true, false)
}

fn refusal(e: &Error, read_only: bool, keys: usize, empty: bool) -> Opened {
    if let Some(c) = e.core_cause() {
        return core_refusal(c, read_only, keys, empty);
    }
    match e {
        // Nothing but erased bytes: no store to read (as core's `ReadOnly`
        // on empty storage).
        Error::NotFound(_) if read_only && empty => core_refusal(
            &twinkv_host::core::Error::<()>::ReadOnly,
            read_only,
            keys,
            empty,
        ),
        // The host's names for storage it will not take as its own.
        Error::NotARegion { .. } | Error::NewerRegionMissing { .. } => {
            Opened::Refused(format!("{e:?}"))
        }
        e => Opened::Failed(format!("{e:?}")),
    }
}

fn opened(s: &Store, keys: &[Vec<u8>]) -> Opened {
    let st = s.stats().unwrap();
    let reads = keys
        .iter()
        .map(|k| match s.get(k) {
            Ok(Some(v)) => Read::Value(v.to_vec()),
            Ok(None) => Read::Absent,
            Err(e) if e.is_corruption() => Read::Corrupted,
            Err(e) => Read::Error(format!("{e:?}")),
        })
        .collect();
    Opened::Ok {
        generation: st.generation,
        damage: st.damage_found_at_open > 0 || st.damaged_keys > 0,
        reads,
    }
}

/// (2) of the probe: the store's state, then one write.
fn write_phase(s: &mut Store) -> (Opened, Option<Result<(), Read>>) {
    let st = s.stats().unwrap();
    let w = match s.set(NEW_KEY, NEW_VALUE) {
        Ok(()) => Ok(()),
        Err(e) if e.is_corruption() => Err(Read::Corrupted),
        Err(e) => Err(Read::Error(format!("{e:?}"))),
    };
    let o = Opened::Ok {
        generation: st.generation,
        damage: st.damage_found_at_open > 0 || st.damaged_keys > 0,
        reads: Vec::new(),
    };
    (o, Some(w))
}

fn probe(base: &Path, img: &Image, keys: &[Vec<u8>]) -> Probe {
    guarded(|| {
        write_image(base, img);
        twinkv_core::testkit::damage::probe!(
            keys: keys,
            empty: is_empty(img),
            changed: read_image(base) != *img,
            open_ro: Store::open_read_only(base),
            open_rw: Store::open(base, Options::new()),
            read: |s: &mut Store, keys: &[Vec<u8>]| opened(s, keys),
            write: write_phase,
            refusal: refusal,
        )
    })
}

fn run(long: bool) -> Table {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("probe");
    let mut table = Table::default();
    for (i, (life, script)) in lifecycles().into_iter().enumerate() {
        let t = build(dir.path(), &script);
        let keys = t.keys();
        let faults = faults_for(&t, long, QUICK_SAMPLE, 0xF11E_0000 + i as u64, true);
        sweep(&mut table, "files", life, &t, &faults, |img| {
            probe(&base, img, &keys)
        });
    }
    table
}

#[test]
fn damage_harness_files_quick() {
    timed(
        "damage harness, memory-mapped files, quick sample",
        false,
        run,
    );
}

#[test]
#[ignore = "long mode: every byte of both files (.ci/stages/60-torture.sh)"]
fn damage_harness_files_exhaustive() {
    timed("damage harness, memory-mapped files, exhaustive", true, run);
}

/// The harness itself: undamaged files probe as harmless.
#[test]
fn harness_self_check_undamaged_is_harmless_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("probe");
    for (life, script) in lifecycles() {
        let t = build(dir.path(), &script);
        let p = probe(&base, &t.image, &t.keys());
        let (v, available) = judge_unfaulted(&t, &p);
        assert_eq!(v, Verdict::Harmless, "{life}: {p:?}");
        assert!(available, "{life}");
    }
}

// ----- named repros of issue 11, on files --------------------------------------

/// Every key of `model` reads its value or `Corrupted`; every key of
/// `deleted` reads absent or `Corrupted`.
fn assert_no_silent_loss(s: &Store, model: &Model, deleted: &[&[u8]], what: &str) {
    for (k, v) in model {
        match s.get(k) {
            Ok(Some(got)) => assert_eq!(
                got,
                &v[..],
                "{what}: {} reads an older value",
                String::from_utf8_lossy(k)
            ),
            Ok(None) => panic!(
                "{what}: acknowledged key {} reads absent",
                String::from_utf8_lossy(k)
            ),
            Err(e) if e.is_corruption() => {}
            Err(e) => panic!("{what}: get {}: {e:?}", String::from_utf8_lossy(k)),
        }
    }
    for k in deleted {
        match s.get(k) {
            Ok(None) => {}
            Err(e) if e.is_corruption() => {}
            other => panic!(
                "{what}: deleted key {} reads {other:?}",
                String::from_utf8_lossy(k)
            ),
        }
    }
}

fn damage_refusal(e: &Error) -> bool {
    matches!(
        e.core_cause(),
        Some(
            twinkv_host::core::Error::Corrupted
                | twinkv_host::core::Error::Unrecognised
                | twinkv_host::core::Error::UnsupportedFormat
        )
    ) || matches!(e, Error::NotARegion { .. })
}

/// Read-only open (a refusal naming damage is fine), then read-write open,
/// a write, a reopen: nothing acknowledged is lost or rolled back.
fn check_after_damage(base: &Path, model: &Model, deleted: &[&[u8]]) {
    match Store::open_read_only(base) {
        Ok(s) => assert_no_silent_loss(&s, model, deleted, "read-only open"),
        Err(e) if damage_refusal(&e) => {}
        Err(e) => panic!("read-only open after damage: {e:?}"),
    }
    let mut s = match Store::open(base, Options::new()) {
        Ok(s) => s,
        Err(e) if damage_refusal(&e) => return,
        Err(e) => panic!("read-write open after damage: {e:?}"),
    };
    assert_no_silent_loss(&s, model, deleted, "read-write open");
    match s.set("other", "x") {
        Ok(()) => {}
        Err(e) if e.is_corruption() => return,
        Err(e) => panic!("write after damage: {e:?}"),
    }
    drop(s);
    let s = Store::open(base, Options::new()).expect("reopen after an acknowledged write");
    let mut m = model.clone();
    m.insert(b"other".to_vec(), b"x".to_vec());
    assert_no_silent_loss(&s, &m, deleted, "reopen after the write");
}

fn active_file(s: &Store) -> PathBuf {
    let (a, b) = s.file_paths();
    match s.stats().unwrap().active {
        twinkv_host::RegionId::A => a,
        twinkv_host::RegionId::B => b,
    }
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// Issue 11, repro 1: 20 keys in a 4 KiB store, `compact`, bit 0 of byte 95
/// of the active file flipped: no key may vanish.
#[test]
fn repro1_flip_after_compaction_loses_no_key_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let mut model = Model::new();
    let active = {
        let mut s = Store::open(&base, Options::new().region_size(4096)).unwrap();
        for i in 1..=20 {
            let (k, v) = (format!("key{i}"), format!("value{i}"));
            s.set(&k, &v).unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        s.compact().unwrap();
        active_file(&s)
    };
    edit(&active, |b| b[95] ^= 1);
    check_after_damage(&base, &model, &[]);
}

/// Issue 11, repro 2: 41 synced sets (B empty), bit 0 of byte 60 of the A
/// file (the commit slot) flipped: open must not format, and the next write
/// must not lose the keys.
#[test]
fn repro2_flipped_commit_before_first_switch_does_not_format_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let mut model = Model::new();
    {
        let mut s = Store::open(&base, Options::new().region_size(4096)).unwrap();
        for i in 1..=41 {
            let (k, v) = (format!("key{i}"), format!("v{i}"));
            s.set(&k, &v).unwrap();
            s.sync().unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        assert_eq!(s.stats().unwrap().switches, 0);
    }
    let (a, b) = files(&base);
    assert!(std::fs::read(&b).unwrap().iter().all(|&x| x == 0xFF));
    edit(&a, |bytes| bytes[60] ^= 1);
    check_after_damage(&base, &model, &[]);
}

/// Issue 11, repro 3: the 512-byte sector of the active file holding the
/// last records and the last sync marker zeroed: no older value, no deleted
/// key back.
#[test]
fn repro3_zeroed_sector_with_last_sync_marker_rolls_nothing_back_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("s");
    let mut model = Model::new();
    let (active, end) = {
        let mut s = Store::open(&base, Options::new().region_size(4096)).unwrap();
        for i in 0..30 {
            let (k, v) = (format!("key{i:02}"), format!("first{i}"));
            s.set(&k, &v).unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        s.sync().unwrap();
        for i in 1..4 {
            let (k, v) = (format!("key{i:02}"), format!("second{i}"));
            s.set(&k, &v).unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        s.remove("key04").unwrap();
        model.remove(&b"key04"[..]);
        s.sync().unwrap();
        let st = s.stats().unwrap();
        assert_eq!(st.switches, 0);
        (active_file(&s), 84 + st.used_bytes)
    };
    let sector = ((end - 1) / SECTOR * SECTOR) as usize;
    assert!(
        sector > 84,
        "the first values must lie in an earlier sector"
    );
    edit(&active, |b| b[sector..sector + SECTOR as usize].fill(0));
    check_after_damage(&base, &model, &[b"key04"]);
}
