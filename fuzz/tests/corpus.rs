//! Replays the committed seed corpora (and any crash artifacts a local fuzz
//! run left in `artifacts/`) through the targets' checks, on stable and
//! without libFuzzer: `cargo test` in `fuzz/`.

use std::path::Path;

fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("read corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read corpus file");
            (p.display().to_string(), bytes)
        })
        .collect()
}

#[test]
fn record_roundtrip_corpus() {
    let seeds = inputs("corpus", "record_roundtrip");
    assert!(!seeds.is_empty(), "no committed seeds for record_roundtrip");
    for (name, bytes) in seeds.iter().chain(&inputs("artifacts", "record_roundtrip")) {
        eprintln!("{name}");
        if let Some(input) = twinkv_fuzz::record::RecordInput::from_bytes(bytes) {
            twinkv_fuzz::record::check(&input);
        }
    }
}

#[test]
fn open_image_corpus() {
    let seeds = inputs("corpus", "open_image");
    assert!(!seeds.is_empty(), "no committed seeds for open_image");
    for (name, bytes) in seeds.iter().chain(&inputs("artifacts", "open_image")) {
        eprintln!("{name}");
        if let Some(input) = twinkv_fuzz::image::ImageInput::from_bytes(bytes) {
            twinkv_fuzz::image::check(&input);
        }
    }
}

#[test]
fn open_checkpoint_corpus() {
    let seeds = inputs("corpus", "open_checkpoint");
    assert!(!seeds.is_empty(), "no committed seeds for open_checkpoint");
    for (name, bytes) in seeds.iter().chain(&inputs("artifacts", "open_checkpoint")) {
        eprintln!("{name}");
        if let Some(input) = twinkv_fuzz::image::ImageInput::from_bytes(bytes) {
            twinkv_fuzz::checkpoint::check(&input);
        }
    }
}

#[test]
fn ops_corpus() {
    let seeds = inputs("corpus", "ops");
    assert!(!seeds.is_empty(), "no committed seeds for ops");
    for (name, bytes) in seeds.iter().chain(&inputs("artifacts", "ops")) {
        eprintln!("{name}");
        if let Some(input) = twinkv_fuzz::ops::OpsInput::from_bytes(bytes) {
            twinkv_fuzz::ops::check_ops(&input);
        }
    }
}

#[test]
fn ops_with_power_loss_corpus() {
    let seeds = inputs("corpus", "ops_with_power_loss");
    assert!(
        !seeds.is_empty(),
        "no committed seeds for ops_with_power_loss"
    );
    for (name, bytes) in seeds
        .iter()
        .chain(&inputs("artifacts", "ops_with_power_loss"))
    {
        eprintln!("{name}");
        if let Some(input) = twinkv_fuzz::ops::PowerInput::from_bytes(bytes) {
            twinkv_fuzz::ops::check_power(&input);
        }
    }
}

/// Inputs of findings (`regressions/<target>/`, see README.md): each must
/// pass once its fix is in core (an open finding fails this test until
/// then). Fixed ones are in `corpus/` too.
#[test]
fn findings() {
    use twinkv_fuzz::{image, ops};
    let mut failed = Vec::new();
    let mut replay = |target: &str, check: &(dyn Fn(&[u8]) + std::panic::RefUnwindSafe)| {
        for (name, bytes) in inputs("regressions", target) {
            if std::panic::catch_unwind(|| check(&bytes)).is_err() {
                failed.push(name);
            }
        }
    };
    replay("open_image", &|b| {
        if let Some(i) = image::ImageInput::from_bytes(b) {
            image::check(&i);
        }
    });
    replay("ops", &|b| {
        if let Some(i) = ops::OpsInput::from_bytes(b) {
            ops::check_ops(&i);
        }
    });
    replay("ops_with_power_loss", &|b| {
        if let Some(i) = ops::PowerInput::from_bytes(b) {
            ops::check_power(&i);
        }
    });
    assert!(failed.is_empty(), "still failing: {failed:#?}");
}
