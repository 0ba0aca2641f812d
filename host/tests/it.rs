//! twinkv-host's integration tests that stay in this process, one test
//! binary: each of these files of `tests/` is a module of it (tests are
//! named `store::...`, `growth::...`; run one file with
//! `cargo test -p twinkv-host --test it store::`). One binary instead of one
//! per file: each test binary linked the store, proptest and core's test kit
//! again, which cost CI more than running the tests (the package's
//! `autotests = false`, see Cargo.toml). The files keep their paths, so
//! `model.proptest-regressions` next to `model.rs` still applies.
//!
//! No test here starts a process: the tests that do (the `twinkv` command,
//! the crash tests) are the `processes` binary (tests/processes.rs). A child
//! holds copies of this process's descriptors, and with them the lock of a
//! store a test has just closed, until it execs; the tests here close and
//! reopen stores all the time.

mod checkpoint_file;
mod compact_on_close;
mod covered_switch;
mod damage_files;
mod durability;
mod growth;
mod mapped_damage;
mod million;
mod model;
mod reopen_settle;
mod store;
mod typed_core;

/// Every `tests/*.rs` file is a module of this binary or of
/// tests/processes.rs: with `autotests = false`, cargo would silently not
/// build a new file that is neither.
#[test]
fn every_test_file_is_built() {
    const ROOTS: [&str; 2] = [include_str!("it.rs"), include_str!("processes.rs")];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap();
        files += 1;
        let module = ROOTS
            .iter()
            .any(|root| root.lines().any(|l| l == format!("mod {stem};")));
        assert!(
            stem == "it" || stem == "processes" || module,
            "tests/{stem}.rs is a module of neither tests/it.rs nor tests/processes.rs"
        );
    }
    assert!(files > 10, "{files} files in {}", dir.display());
}
