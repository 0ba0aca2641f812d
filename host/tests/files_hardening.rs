//! Issue 11, host side: what sits at `STORE.a` / `STORE.b` is refused before
//! a byte is read or written when it is not a regular file, and never blocks;
//! an open that refuses changes nothing; a failing command leaves no files it
//! created; non-creating commands never create nor format; a failed resize
//! leaves the old size or the new one; usage errors exit 2; write commands
//! leave the store synced unless `--no-sync`.
#![cfg(unix)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use twinkv_host::core::format::record::Kind;
use twinkv_host::core::format::{Layout, Marker};
use twinkv_host::inspect::analyze_region;
use twinkv_host::{hooks, region_paths, Durability, Error, Options, RegionId, Store};

const BIN: &str = env!("CARGO_BIN_EXE_twinkv");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `twinkv`, failing the test (instead of hanging it) if the command
/// has not finished after 20 s, which is what a blocking open of a FIFO did.
fn twinkv_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("twinkv {args:?} blocked (killed after 20 s)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let out = Out {
        code: status.code().expect("exited by a signal"),
        stdout,
        stderr,
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

fn twinkv(args: &[&str]) -> Out {
    twinkv_env(args, &[])
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("st");
    (d, base)
}

/// The bytes of both files (`None`: absent), following symbolic links.
fn snapshot(base: &Path) -> Vec<Option<Vec<u8>>> {
    let (a, b) = region_paths(base);
    [a, b].iter().map(|p| std::fs::read(p).ok()).collect()
}

/// Every name in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn small() -> Options {
    Options::new().region_size(4096).limits(16, 64)
}

/// A 4 KiB store with a few keys, closed.
fn make_store(base: &Path) {
    let mut st = Store::open(base, small()).unwrap();
    for i in 0..5 {
        st.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    st.close().unwrap();
}

/// The kind of the last record in the active region's log.
fn last_record_kind(base: &Path) -> Option<Kind> {
    let active = Store::open_read_only(base).unwrap().stats().unwrap().active;
    let (a, b) = region_paths(base);
    let p = if active == RegionId::A { a } else { b };
    let r = analyze_region(&std::fs::read(p).unwrap(), 4);
    r.records.last().map(|r| r.kind)
}

/// Every command that opens a store, with the exit code a refused special
/// file must give (4: any other error).
fn every_opening_command(b: &str) -> Vec<Vec<String>> {
    [
        &["get", b, "k"][..],
        &["set", b, "k", "v"],
        &["rm", b, "k"],
        &["list", b],
        &["list", b, "--snapshot"],
        &["dump", b],
        &["export", b, "--snapshot"],
        &["stats", b],
        &["stats", b, "--snapshot"],
        &["verify", b],
        &["verify", b, "--snapshot"],
        &["compact", b],
        &["resize", b, "8K"],
        &["repair", b, "--yes"],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect())
    .collect()
}

/// Runs every opening command and the library's opens against a store whose
/// file `which` is something special; each is refused with `what` named, and
/// nothing blocks.
fn refused_everywhere(base: &Path, what: &str) {
    for args in every_opening_command(s(base)) {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = twinkv(&a);
        assert_eq!(o.code, 4, "{a:?}: {}", o.stderr);
        assert!(
            o.stderr.contains(what) && o.stderr.contains("not a regular file"),
            "{a:?}: {}",
            o.stderr
        );
    }
    let check = |e: Error| {
        assert!(matches!(e, Error::NotARegion { .. }), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    check(Store::open(base, Options::new()).unwrap_err());
    check(Store::open(base, Options::new().create(false)).unwrap_err());
    check(Store::open_read_only(base).unwrap_err());
    check(Store::open_snapshot(base).unwrap_err());
    check(twinkv_host::inspect::verify_store(base, false).unwrap_err());
    check(twinkv_host::inspect::verify_store(base, true).unwrap_err());
}

fn mkfifo(p: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        p,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
}

fn is_fifo(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(p).unwrap().file_type().is_fifo()
}

/// Repro 4: a FIFO at STORE.a made `get`, `verify` and `stats --snapshot`
/// block forever. Now every command refuses it at once, and it stays a FIFO.
#[test]
fn fifo_at_store_path_is_refused_without_blocking() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let (a, b) = region_paths(&base);
    mkfifo(&a);
    refused_everywhere(&base, "FIFO");
    assert!(is_fifo(&a));
    assert!(!b.exists(), "nothing created beside it");
    // A FIFO as the partner of a real store: refused, the store untouched.
    std::fs::remove_file(&a).unwrap();
    make_store(&base);
    std::fs::remove_file(&b).unwrap();
    mkfifo(&b);
    let before = std::fs::read(&a).unwrap();
    refused_everywhere(&base, "FIFO");
    assert_eq!(std::fs::read(&a).unwrap(), before);
    assert!(is_fifo(&b));
}

#[test]
fn directory_at_store_path_is_refused() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let (a, b) = region_paths(&base);
    std::fs::create_dir(&b).unwrap();
    refused_everywhere(&base, "a directory");
    assert!(b.is_dir() && std::fs::read_dir(&b).unwrap().next().is_none());
    assert!(!a.exists());
}

#[test]
fn socket_at_store_path_is_refused() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let (a, b) = region_paths(&base);
    let _listener = std::os::unix::net::UnixListener::bind(&a).unwrap();
    refused_everywhere(&base, "a socket");
    assert!(!b.exists());
}

/// Repro 4 with a character device behind a symbolic link: its metadata
/// length is 0, so it was taken for an empty region file and filled.
#[test]
fn symlink_to_char_device_is_refused() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let (a, b) = region_paths(&base);
    std::os::unix::fs::symlink("/dev/null", &a).unwrap();
    refused_everywhere(
        &base,
        "symbolic link to /dev/null, which is a character device",
    );
    assert!(!b.exists(), "nothing created beside it");
    assert_eq!(std::fs::read_link(&a).unwrap(), Path::new("/dev/null"));
}

#[test]
fn dangling_symlink_is_refused_not_raced() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let (a, _) = region_paths(&base);
    std::os::unix::fs::symlink(d.path().join("nowhere"), &a).unwrap();
    let o = twinkv(&["set", s(&base), "k", "v"]);
    assert_eq!(o.code, 4);
    assert!(o.stderr.contains("dangling"), "{}", o.stderr);
    assert_eq!(names(d.path()), ["st.a"]);
}

/// Repro 4 on a real block device: a loop device over a file of 0xAB bytes,
/// reached through a symbolic link. Needs root and `losetup`; skipped
/// otherwise (saying so).
#[test]
fn symlink_to_block_device_is_refused() {
    let _serial = crate::serial();
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: a loop device needs root");
        return;
    }
    let (d, base) = setup();
    let backing = d.path().join("disk.img");
    std::fs::write(&backing, vec![0xABu8; 2 << 20]).unwrap();
    let dev = match Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&backing)
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap().trim().to_string(),
        Ok(o) => {
            eprintln!(
                "skipped: losetup failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: no losetup: {e}");
            return;
        }
    };
    let (a, _) = region_paths(&base);
    std::os::unix::fs::symlink(&dev, &a).unwrap();
    let o = twinkv(&["set", s(&base), "k", "v"]);
    let _ = Command::new("losetup").args(["--detach", &dev]).status();
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("block device"), "{}", o.stderr);
    let bytes = std::fs::read(&backing).unwrap();
    assert!(bytes.iter().all(|&x| x == 0xAB), "the device was written");
}

/// Repro 6: a truncated inactive `.b` was padded to a whole erase unit before
/// the open was refused. Now the open is refused and neither file changes.
#[test]
fn refused_open_leaves_truncated_inactive_file_unchanged() {
    let _serial = crate::serial();
    for compacted in [false, true] {
        let (_d, base) = setup();
        make_store(&base);
        if compacted {
            // B active, then A active again: B holds a superseded header.
            let mut st = Store::open(&base, Options::new()).unwrap();
            st.compact().unwrap();
            st.compact().unwrap();
            assert_eq!(st.stats().unwrap().active, RegionId::A);
        }
        let (_, b) = region_paths(&base);
        let f = std::fs::OpenOptions::new().write(true).open(&b).unwrap();
        f.set_len(4000).unwrap();
        drop(f);
        let before = snapshot(&base);
        let e = Store::open(&base, Options::new()).unwrap_err();
        assert!(matches!(e, Error::NotARegion { .. }), "{e}");
        assert_eq!(snapshot(&base), before, "compacted {compacted}");
        let o = twinkv(&["set", s(&base), "k", "v"]);
        assert_eq!(o.code, 4, "{}", o.stderr);
        assert!(o.stderr.contains("st.b: length 4000"), "{}", o.stderr);
        assert_eq!(twinkv(&["rm", s(&base), "k1"]).code, 4);
        assert_eq!(snapshot(&base), before, "compacted {compacted}");
        assert_eq!(std::fs::metadata(&b).unwrap().len(), 4000);
    }
}

/// Repro 6: `twinkv set new "" v` created 1 MiB new.a/new.b, then failed.
#[test]
fn empty_key_creates_nothing_and_is_a_usage_error() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let b = s(&base);
    for args in [&["set", b, "", "v"][..], &["get", b, ""], &["rm", b, ""]] {
        let o = twinkv(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.starts_with("error: invalid value '' for '<KEY>'")
                && o.stderr.contains("a key must not be empty"),
            "{args:?}: {}",
            o.stderr
        );
    }
    assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
    // An import with an empty key is refused before the store is created.
    let file = d.path().join("e.json");
    std::fs::write(&file, br#"[{"key":"","value":"x"}]"#).unwrap();
    let o = twinkv(&["import", b, s(&file)]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("the key is empty"), "{}", o.stderr);
    assert_eq!(names(d.path()), ["e.json"]);
}

/// A write that fails on a store the command just created (a key or value
/// too long for it) leaves no files behind.
#[test]
fn failed_write_on_new_store_removes_its_files() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let o = twinkv(&["set", s(&base), &"k".repeat(100), "v"]);
    assert_eq!(o.code, 4);
    assert!(o.stderr.contains("key is longer"), "{}", o.stderr);
    assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
    let big = "x".repeat(5000);
    let o = twinkv(&["set", s(&base), "k", &big]);
    assert_eq!(o.code, 4);
    assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
    // On an existing store the files stay, of course.
    make_store(&base);
    let before = snapshot(&base);
    assert_eq!(twinkv(&["set", s(&base), &"k".repeat(100), "v"]).code, 4);
    assert_eq!(snapshot(&base), before);
}

/// `rm`, `get` and the other non-creating commands never create a file, and
/// never format existing empty or erased files (also through symbolic links).
#[test]
fn non_creating_commands_create_and_format_nothing() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let b = s(&base);
    let readers_and_writers: Vec<Vec<&str>> = vec![
        vec!["rm", b, "k"],
        vec!["get", b, "k"],
        vec!["list", b],
        vec!["stats", b],
        vec!["verify", b],
        vec!["compact", b],
        vec!["resize", b, "8K"],
        vec!["repair", b, "--yes"],
        vec!["dump", b, "--snapshot"],
    ];
    let run_all = |why: &str| {
        for args in &readers_and_writers {
            let o = twinkv(args);
            // `verify` (and `repair`, which verifies first) may call empty
            // files "nothing written yet"; every other command fails, and
            // none writes.
            if !matches!(args[0], "verify" | "repair") {
                assert_ne!(o.code, 0, "{why}: {args:?}");
            }
        }
    };
    // 1. Nothing there.
    run_all("missing");
    assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
    // 2. Two empty files, reached through symbolic links.
    let (a, bb) = region_paths(&base);
    let (ta, tb) = (d.path().join("target-a"), d.path().join("target-b"));
    std::fs::write(&ta, b"").unwrap();
    std::fs::write(&tb, b"").unwrap();
    std::os::unix::fs::symlink(&ta, &a).unwrap();
    std::os::unix::fs::symlink(&tb, &bb).unwrap();
    run_all("empty");
    assert_eq!(std::fs::metadata(&ta).unwrap().len(), 0);
    assert_eq!(std::fs::metadata(&tb).unwrap().len(), 0);
    let o = twinkv(&["rm", b, "k"]);
    assert!(o.stderr.contains("no such store"), "{}", o.stderr);
    // 3. Two erased files (what a format would start from).
    std::fs::write(&ta, vec![0xFF; 4096]).unwrap();
    std::fs::write(&tb, vec![0xFF; 4096]).unwrap();
    let before = snapshot(&base);
    run_all("erased");
    assert_eq!(snapshot(&base), before);
    // 4. One erased file, its partner missing.
    std::fs::remove_file(&bb).unwrap();
    run_all("lone erased");
    assert_eq!(std::fs::read(&ta).unwrap(), vec![0xFF; 4096]);
    assert!(std::fs::symlink_metadata(&bb).is_err());
    // The library agrees.
    assert!(matches!(
        Store::open(&base, Options::new().create(false)),
        Err(Error::NotFound(_))
    ));
    // And `set` still creates a store where asked to.
    std::fs::remove_file(&a).unwrap();
    assert_eq!(twinkv(&["set", b, "k", "v", "--size", "4K"]).code, 0);
    assert_eq!(twinkv(&["get", b, "k"]).stdout, "v\n");
}

/// A pair whose only commit marker is damaged (issue 11, repro 2's shape):
/// a non-creating command neither formats it nor says "store is read-only".
#[test]
fn pair_without_commit_is_not_formatted_by_rm_and_get_names_the_problem() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    make_store(&base);
    let (a, _) = region_paths(&base);
    let mut bytes = std::fs::read(&a).unwrap();
    let at = Layout::new(4).slot(Marker::Commit) as usize;
    bytes[at] ^= 1;
    std::fs::write(&a, &bytes).unwrap();
    let before = snapshot(&base);
    for args in [&["rm", s(&base), "k1"][..], &["compact", s(&base)]] {
        let o = twinkv(args);
        assert!(o.code == 3 || o.code == 4, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("nothing was written") && o.stderr.contains("twinkv verify"),
            "{}",
            o.stderr
        );
    }
    assert_eq!(snapshot(&base), before, "rm formatted the pair");
    let o = twinkv(&["get", s(&base), "k1"]);
    assert!(o.code == 3 || o.code == 4);
    assert!(!o.stderr.contains("store is read-only"), "{}", o.stderr);
    assert!(o.stderr.contains("run `twinkv verify`"), "{}", o.stderr);
    assert!(matches!(
        Store::open(&base, Options::new().create(false)),
        Err(Error::Open { .. })
    ));
    assert_eq!(snapshot(&base), before);
}

/// The newest region's header damaged: the open error says so, names the
/// remedy and exits 3 (corruption), never "store is read-only".
#[test]
fn damaged_newest_region_is_named_with_a_remedy() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    make_store(&base);
    let mut st = Store::open(&base, Options::new()).unwrap();
    st.compact().unwrap(); // B active, A superseded
    st.close().unwrap();
    let (_, b) = region_paths(&base);
    let mut bytes = std::fs::read(&b).unwrap();
    bytes[20] ^= 0x01; // inside B's header
    std::fs::write(&b, &bytes).unwrap();
    let e = Store::open_read_only(&base).unwrap_err();
    assert!(e.is_corruption(), "{e}");
    assert!(e.to_string().contains("newest region damaged"), "{e}");
    let o = twinkv(&["get", s(&base), "k1"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.contains("newest region damaged") && o.stderr.contains("run `twinkv verify`"),
        "{}",
        o.stderr
    );
}

/// Repro 6: ENOSPC on the second file left the first behind. Now a failed
/// creation leaves the directory as it was: no region file, no temp file, and
/// files that existed empty are empty again.
#[test]
fn enospc_while_creating_leaves_nothing_behind() {
    let _serial = crate::serial();
    for at in [1, 2] {
        let (d, base) = setup();
        hooks::enospc_at_fill(at);
        let e = Store::open(&base, small()).unwrap_err();
        hooks::enospc_at_fill(0);
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("No space left"), "{e}");
        assert!(
            names(d.path()).is_empty(),
            "fill {at}: {:?}",
            names(d.path())
        );
        // Pre-existing empty files are emptied again.
        let (a, b) = region_paths(&base);
        std::fs::write(&a, b"").unwrap();
        std::fs::write(&b, b"").unwrap();
        hooks::enospc_at_fill(at);
        assert!(Store::open(&base, small()).is_err());
        hooks::enospc_at_fill(0);
        assert_eq!(names(d.path()), ["st.a", "st.b"]);
        assert_eq!(std::fs::metadata(&a).unwrap().len(), 0);
        assert_eq!(std::fs::metadata(&b).unwrap().len(), 0);
    }
    // Through the CLI.
    let (d, base) = setup();
    let o = twinkv_env(
        &["set", s(&base), "k", "v"],
        &[("TWINKV_TEST_ENOSPC_AT_FILL", "2")],
    );
    assert_eq!(o.code, 4);
    assert!(o.stderr.contains("No space left"), "{}", o.stderr);
    assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
}

fn file_lens(base: &Path) -> (u64, u64) {
    let (a, b) = region_paths(base);
    (
        std::fs::metadata(a).unwrap().len(),
        std::fs::metadata(b).unwrap().len(),
    )
}

/// Repro 6: a resize that failed with ENOSPC left files that the next open
/// converged to a size nobody asked for. Now: the old size when the first
/// grow fails, the new one when the second does; the store stays usable.
#[test]
fn enospc_during_resize_leaves_old_or_new_size() {
    let _serial = crate::serial();
    // The grow of the inactive file fails: old size.
    let (_d, base) = setup();
    make_store(&base);
    let mut st = Store::open(&base, Options::new()).unwrap();
    hooks::enospc_at_fill(1);
    let e = st.resize(16384).unwrap_err();
    hooks::enospc_at_fill(0);
    assert!(e.to_string().contains("No space left"), "{e}");
    assert_eq!(file_lens(&base), (4096, 4096));
    assert_eq!(st.get("k1").unwrap(), Some(&b"v1"[..]));
    st.set("after", "1").unwrap();
    st.close().unwrap();
    let st = Store::open(&base, Options::new()).unwrap();
    assert_eq!(st.region_sizes(), (4096, 4096));
    assert_eq!(st.get("after").unwrap(), Some(&b"1"[..]));
    drop(st);
    // The grow of the other file, after the switch, fails: the new size.
    let mut st = Store::open(&base, Options::new()).unwrap();
    hooks::enospc_at_fill(2);
    let e = st.resize(16384).unwrap_err();
    hooks::enospc_at_fill(0);
    assert!(e.to_string().contains("No space left"), "{e}");
    let (la, lb) = file_lens(&base);
    assert!(
        (la, lb) == (16384, 4096) || (la, lb) == (4096, 16384),
        "{la} {lb}"
    );
    assert_eq!(st.get("k1").unwrap(), Some(&b"v1"[..]));
    drop(st);
    let st = Store::open(&base, Options::new()).unwrap();
    assert_eq!(st.region_sizes(), (16384, 16384));
    assert_eq!(file_lens(&base), (16384, 16384));
    assert_eq!(st.get("after").unwrap(), Some(&b"1"[..]));
    drop(st);
    // Through the CLI: exit 4, old size.
    let o = twinkv_env(
        &["resize", s(&base), "64K"],
        &[("TWINKV_TEST_ENOSPC_AT_FILL", "1")],
    );
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert_eq!(file_lens(&base), (16384, 16384));
    assert_eq!(twinkv(&["get", s(&base), "k1"]).stdout, "v1\n");
}

/// Usage errors exit 2 in clap's style and create nothing.
#[test]
fn usage_errors_exit_2_and_create_nothing() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let b = s(&base);
    for (args, want) in [
        (&["set", b, "k", "v", "--size", "1.5k"][..], "--size <SIZE>"),
        (
            &["set", b, "k", "v", "--size", "0"],
            "positive multiple of 512",
        ),
        (
            &["set", b, "k", "v", "--size", "1000"],
            "positive multiple of 512",
        ),
        (&["set", b, "k", "v", "--size", "512"], "too small"),
        (&["set", b, "k", "v", "--high-water", "0"], "--high-water"),
        (&["set", b, "k", "v", "--high-water", "150"], "--high-water"),
        (
            &["set", b, "k", "v", "--high-water", "lots"],
            "--high-water",
        ),
        (
            &["import", b, "-", "--size", "0"],
            "positive multiple of 512",
        ),
        (&["resize", b, "0"], "positive multiple of 512"),
        (&["resize", b, "1.5k"], "<SIZE>"),
        (&["set", b, "k", "v", "--no-sync", "--bogus"], "--bogus"),
    ] {
        let o = twinkv(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.starts_with("error: ") && o.stderr.contains(want),
            "{args:?}: {}",
            o.stderr
        );
        assert!(o.stderr.contains("--help"), "{args:?}: {}", o.stderr);
    }
    assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
    // A resize of an existing store below what its limits need: exit 2 too,
    // and the store is unchanged.
    assert_eq!(twinkv(&["set", b, "k", "v", "--size", "4K"]).code, 0);
    let before = snapshot(&base);
    let o = twinkv(&["resize", b, "512"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
    assert_eq!(snapshot(&base), before);
}

/// Write commands sync before they exit: the active log ends in a sync
/// marker. `--no-sync` (before or after the subcommand) leaves the write
/// unsynced.
#[test]
fn cli_writes_end_synced_unless_no_sync() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let b = s(&base);
    assert_eq!(twinkv(&["set", b, "k", "v", "--size", "8K"]).code, 0);
    assert_eq!(last_record_kind(&base), Some(Kind::SyncMarker));
    assert_eq!(twinkv(&["--no-sync", "set", b, "k2", "v"]).code, 0);
    assert_eq!(last_record_kind(&base), Some(Kind::Set));
    assert_eq!(twinkv(&["rm", b, "k2"]).code, 0);
    assert_eq!(last_record_kind(&base), Some(Kind::SyncMarker));
    assert_eq!(twinkv(&["rm", b, "k", "--no-sync"]).code, 0);
    assert_eq!(last_record_kind(&base), Some(Kind::Delete));
    let file = d.path().join("e.json");
    std::fs::write(
        &file,
        br#"[{"key":"a","value":"1"},{"key":"b","value":"2"}]"#,
    )
    .unwrap();
    assert_eq!(twinkv(&["import", b, s(&file), "--no-sync"]).code, 0);
    assert_eq!(last_record_kind(&base), Some(Kind::BatchCommit));
    assert_eq!(twinkv(&["import", b, s(&file)]).code, 0);
    assert_eq!(last_record_kind(&base), Some(Kind::SyncMarker));
    // `set --sync` is still accepted.
    assert_eq!(twinkv(&["set", b, "k3", "v", "--sync"]).code, 0);
    assert_eq!(last_record_kind(&base), Some(Kind::SyncMarker));
}

/// A host store syncs when dropped or closed, unless told not to.
#[test]
fn store_syncs_on_drop_and_close() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    make_store(&base); // closed with close()
    assert_eq!(last_record_kind(&base), Some(Kind::SyncMarker));
    let mut st = Store::open(&base, Options::new()).unwrap();
    st.set("dropped", "1").unwrap();
    drop(st);
    assert_eq!(last_record_kind(&base), Some(Kind::SyncMarker));
    let mut st = Store::open(&base, Options::new().sync_on_close(false)).unwrap();
    st.set("unsynced", "1").unwrap();
    drop(st);
    assert_eq!(last_record_kind(&base), Some(Kind::Set));
    // close() syncs even then, and reports success.
    let mut st = Store::open(&base, Options::new().sync_on_close(false)).unwrap();
    st.set("closed", "1").unwrap();
    st.close().unwrap();
    assert_eq!(last_record_kind(&base), Some(Kind::SyncMarker));
    // Opening and closing without a write writes nothing.
    let before = snapshot(&base);
    Store::open(&base, Options::new()).unwrap().close().unwrap();
    drop(Store::open(&base, Options::new()).unwrap());
    assert_eq!(snapshot(&base), before);
}

/// In `SyncEveryWrite` mode the log ends synced after every write, also
/// after one that switched regions (its folded records are followed by a
/// sync marker) and after an explicit compaction (the switch's commit is the
/// last sync point, and the last step of the call is an fsync).
#[test]
fn sync_every_write_ends_synced_after_a_switch() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let opts = small().durability(Durability::SyncEveryWrite);
    let mut st = Store::open(&base, opts.clone()).unwrap();
    let mut i = 0;
    while st.stats().unwrap().switches < 3 {
        hooks::clear_last_op();
        st.set(format!("k{}", i % 7), format!("value {i}")).unwrap();
        i += 1;
        assert!(i < 5000, "no switch");
        // Synced: a sync marker ends the log, or (no room left for one) the
        // last step of the write was an fsync.
        let kind = last_record_kind_live(&st);
        assert!(
            kind == Some(Kind::SyncMarker) || hooks::last_op() == Some(hooks::Op::Fsync),
            "write {i}: {kind:?}, {:?}",
            hooks::last_op()
        );
    }
    hooks::clear_last_op();
    st.compact().unwrap();
    assert_eq!(hooks::last_op(), Some(hooks::Op::Fsync));
    let stats = st.stats().unwrap();
    // The live records, the erased record the switch commits for the
    // region it left (FORMAT.md §7.3) and its covering marker (§6.4):
    // nothing after the commit.
    let erased = twinkv_core::format::record::stored_len(0, 8, 4).unwrap();
    let cover = erased;
    assert_eq!(
        stats.used_bytes,
        stats.live_bytes + erased + cover,
        "nothing after the commit"
    );
    drop(st);
    let st = Store::open(&base, Options::new()).unwrap();
    assert!(st.get(format!("k{}", (i - 1) % 7)).unwrap().is_some());
}

/// [`last_record_kind`] for a store that is open (its files are mapped
/// shared, so reading them shows what it wrote).
fn last_record_kind_live(st: &Store) -> Option<Kind> {
    let (a, b) = st.file_paths();
    let p = if st.stats().unwrap().active == RegionId::A {
        a
    } else {
        b
    };
    let r = analyze_region(&std::fs::read(p).unwrap(), 4);
    r.records.last().map(|r| r.kind)
}

/// A resize whose remap fails leaves the store closed: every call answers
/// `Error::Closed` (`len` 0, `is_closed`), nothing is lost, and a reopen
/// settles the files on one size with every value there.
#[test]
fn a_failed_remap_in_a_resize_leaves_the_store_closed() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let mut st = Store::open(&base, small()).unwrap();
    for i in 0..20 {
        st.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    let (a, _) = st.region_sizes();
    assert!(!st.is_closed());
    hooks::fail_next_map();
    let r = st.resize(a * 2);
    assert!(r.is_err(), "the remap failed");
    assert!(st.is_closed());
    assert!(matches!(st.get("k1"), Err(Error::Closed)));
    assert!(matches!(st.set("k1", "x"), Err(Error::Closed)));
    assert!(matches!(st.stats(), Err(Error::Closed)));
    assert_eq!(st.len(), 0);
    assert!(Error::Closed.to_string().contains("closed"));
    drop(st);
    let st = Store::open(&base, Options::new()).unwrap();
    for i in 0..20 {
        assert_eq!(
            st.get(format!("k{i}")).unwrap().unwrap(),
            format!("v{i}").as_bytes()
        );
    }
}
