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

/// Inputs of findings fixed in core (`regressions/<target>/`, see
/// README.md): each must pass from now on. They are in `corpus/` too.
#[test]
fn fixed_findings() {
    let mut failed = Vec::new();
    for (name, bytes) in inputs("regressions", "open_image") {
        let Some(input) = twinkv_fuzz::image::ImageInput::from_bytes(&bytes) else {
            continue;
        };
        if std::panic::catch_unwind(|| twinkv_fuzz::image::check(&input)).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "still failing: {failed:#?}");
}
