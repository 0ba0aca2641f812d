//! The build script of every example (`build = "../build.rs"`): puts the
//! shared `memory.x` on the linker search path and links with cortex-m-rt's
//! `link.x`. The link argument is passed here rather than in
//! `.cargo/config.toml` so that a `RUSTFLAGS` set by the environment (which
//! replaces the config's `rustflags`) cannot drop it: without `-Tlink.x` the
//! build still succeeds but the image has no vector table.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rerun-if-changed=../memory.x");
    println!("cargo:rerun-if-changed=../build.rs");
}
