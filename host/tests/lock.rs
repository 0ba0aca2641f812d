//! The lock seen from a second process (the `twinkv` binary).

use std::process::Command;

use twinkv_host::{Options, Store};

const BIN: &str = env!("CARGO_BIN_EXE_twinkv");

#[test]
fn second_process_gets_locked_and_snapshot_still_reads() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("locked");
    let mut s = Store::open(&base, Options::new().region_size(4096)).unwrap();
    s.set("k", "v").unwrap();
    for args in [
        vec!["get", "k"],
        vec!["set", "k", "w"],
        vec!["stats"],
        vec!["verify"],
    ] {
        let mut cmd = Command::new(BIN);
        cmd.arg(args[0]).arg(&base).args(&args[1..]);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("locked by another twinkv process"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // --snapshot needs no lock.
    for cmd in ["stats", "dump", "verify"] {
        let out = Command::new(BIN)
            .arg(cmd)
            .arg(&base)
            .arg("--snapshot")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(s);
    // A reader in another process keeps this process from writing.
    let out = Command::new(BIN)
        .args(["get"])
        .arg(&base)
        .arg("k")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"v\n");
}

#[test]
fn writer_in_another_process_excludes_this_one() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("other");
    // The test writer holds the store while it writes, until killed.
    let mut child = Command::new(BIN)
        .arg("__crash-writer")
        .arg(&base)
        .args(["--start", "0", "--size", "4096"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It prints "ready" once it holds the store.
    let mut line = String::new();
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ack 0\n");
    assert!(matches!(
        Store::open(&base, Options::new()),
        Err(twinkv_host::Error::Locked(_))
    ));
    assert!(matches!(
        Store::open_read_only(&base),
        Err(twinkv_host::Error::Locked(_))
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(out);
    // The lock dies with the process.
    let s = Store::open(&base, Options::new()).unwrap();
    assert!(!s.is_empty());
}
