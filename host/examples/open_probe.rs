//! Time `Store::open` of a file store of N live keys (default 100,000; `N`
//! in the environment), 16-byte keys and values, each written twice: as
//! written (used = 2 × live), or after a compaction (`compact` argument,
//! used = live). `cargo run --release -p twinkv-host --example open_probe [compact]`
use std::time::Instant;
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("p");
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let size = ((n * 40 * 4 * 4 / 3 + 65536) / 512 + 1) * 512;
    {
        let mut s =
            twinkv_host::Store::open(&base, twinkv_host::Options::new().region_size(size as u32))
                .unwrap();
        for i in 0..n {
            s.set(format!("k{i:015}"), format!("v{i:015}")).unwrap();
        }
        for i in 0..n {
            s.set(format!("k{i:015}"), format!("w{i:015}")).unwrap();
        }
        s.sync().unwrap();
        if std::env::args().nth(1).as_deref() == Some("compact") {
            s.compact().unwrap();
        }
        println!("stats {:?}", s.stats().unwrap());
    }
    for _ in 0..3 {
        let t = Instant::now();
        let s = twinkv_host::Store::open(&base, twinkv_host::Options::new()).unwrap();
        println!("open {:?} keys {}", t.elapsed(), s.len());
    }
}
