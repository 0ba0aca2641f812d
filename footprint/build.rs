//! Puts this directory (with `memory.x`) on the linker search path and links
//! with cortex-m-rt's `link.x` (here rather than in `.cargo/config.toml`, so
//! that a `RUSTFLAGS` from the environment cannot drop it and leave an image
//! without a vector table).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    println!("cargo:rustc-link-search={dir}");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
}
