//! twinkv-host's integration tests that start processes (the `twinkv`
//! command; the crash tests, which kill their writers), one test binary:
//! each of these files of `tests/` is a module of it (tests are named
//! `cli::...`, `crash::...`; run one file with
//! `cargo test -p twinkv-host --test processes cli::`). See tests/it.rs for
//! the tests that stay in the process, and why one binary.
//!
//! The tests of this binary run one at a time: each takes [`serial`] first.
//! A child process holds copies of every descriptor of this process until it
//! execs, and with them the `flock` of a store another test has just closed,
//! which would make that test's next open (or its writer's) fail with
//! `Locked`. These tests open stores here and start processes; one at a time
//! they lose little (the crash tests, most of the time, are one test each).

use std::sync::{Mutex, MutexGuard};

#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
mod cli_json;
#[cfg(feature = "cli")]
mod crash;
mod crash_growth;
#[cfg(feature = "cli")]
mod device_image;
#[cfg(feature = "cli")]
mod files_hardening;
#[cfg(feature = "cli")]
mod lock;

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for the whole of each test of this binary (a failed test's poison
/// is ignored).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every test of this binary takes [`serial`] first.
#[test]
fn every_test_takes_the_serial_lock() {
    let _serial = serial();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let modules: Vec<&str> = include_str!("processes.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    assert!(modules.len() >= 7, "modules: {modules:?}");
    for name in modules {
        let src = std::fs::read_to_string(dir.join(format!("{name}.rs"))).unwrap();
        let lines: Vec<&str> = src.lines().collect();
        let mut tests = 0;
        for (i, l) in lines.iter().enumerate() {
            if l.trim() != "#[test]" {
                continue;
            }
            tests += 1;
            // The signature, then the lock as the first statement.
            let open = (i..lines.len()).find(|&j| lines[j].ends_with('{')).unwrap();
            assert_eq!(
                lines.get(open + 1).map(|l| l.trim()),
                Some("let _serial = crate::serial();"),
                "tests/{name}.rs: the test at line {} does not take the lock first",
                i + 1
            );
        }
        assert!(tests > 0, "tests/{name}.rs has no test");
    }
}
