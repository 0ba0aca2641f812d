//! twinkv-core's integration tests, one test binary: each file of `tests/`
//! is a module of it (tests are named `power_cut::...`, `model::...`; run
//! one file with `cargo test -p twinkv-core --test it power_cut::`). One
//! binary instead of one per file: every test binary monomorphises the
//! store's generics again and links proptest and the test kit, which cost
//! CI more than running the tests (the package's `autotests = false`, see
//! Cargo.toml). The files keep their paths, so the `*.proptest-regressions`
//! files next to them still apply and `tests/fixtures/` is where it was.
//!
//! Outside this binary: `format_golden` and `lend`, which CI also builds
//! with the CRC instructions (.ci/stages/10-hw-crc.sh) and which would
//! otherwise take every other test into that build. A module gated on a
//! feature compiles only with it, as the `required-features` of its own
//! test target did.

mod async_model;
mod batch_model;
mod cancel;
mod checkpoint;
mod config_headroom;
mod damage;
#[cfg(feature = "flash-sim")]
mod damage_flash;
mod damage_harness;
mod damage_rules;
#[cfg(feature = "flash-sim")]
mod deleted_damage;
#[cfg(feature = "flash-sim")]
mod erase_ahead;
mod erased_unit_damage;
mod fixtures;
#[cfg(feature = "flash-sim")]
mod flash_adapter;
#[cfg(feature = "flash-sim")]
mod flash_bitflip;
#[cfg(feature = "flash-sim")]
mod flash_ecc;
#[cfg(feature = "flash-sim")]
mod flash_sim;
#[cfg(feature = "flash-sim")]
mod flash_wear;
#[cfg(feature = "flash-sim")]
mod incremental;
mod lost_batch_begin;
mod model;
#[cfg(all(feature = "flash-sim", feature = "critical-section"))]
mod mutex_flash;
mod open_cost;
mod open_in;
mod open_rules;
mod page_cache;
mod power_cut;
mod ram_region;
mod replay_sizing;
mod switch;
#[cfg(feature = "serde")]
mod typed;
mod updates;

/// Every `tests/*.rs` file is a module of this binary or a test target of
/// its own in Cargo.toml: with `autotests = false`, cargo would silently
/// not build a new file that is neither.
#[test]
fn every_test_file_is_built() {
    const ROOT: &str = include_str!("it.rs");
    const MANIFEST: &str = include_str!("../Cargo.toml");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap();
        files += 1;
        let module = ROOT.lines().any(|l| l == format!("mod {stem};"));
        let target = MANIFEST
            .lines()
            .any(|l| l.trim() == format!("name = \"{stem}\""));
        assert!(
            stem == "it" || module || target,
            "tests/{stem}.rs is neither a `mod {stem};` of tests/it.rs nor a [[test]] of Cargo.toml"
        );
    }
    assert!(files > 20, "{files} files in {}", dir.display());
}
