//! Benchmarks of twinkv against its peers: shared workload helpers.
//!
//! - `benches/host_ops.rs`: host operations (criterion).
//! - `benches/switch.rs`: the in-memory switch against a re-scanning switch,
//!   open/recovery time, and the longest single `set` (criterion + a latency
//!   table).
//! - `benches/peers.rs`: redb, mmkv and a file-rewriting `HashMap`, same
//!   workload (feature `peers-host`; twinkv alone without it).
//! - `src/bin/embedded.rs`: the flash-simulator comparison with counters
//!   (sequential-storage and ekv with feature `peers-embedded`; the stores
//!   and the counting flash wrapper are in [`embkv`]).
//! - `src/bin/latency.rs`: write latency (the cost of every single `set` on
//!   the simulator under datasheet timing models, and on the host), boots
//!   (reopen every 10 updates; host reopen after close and crash), wear per
//!   erase unit, imports; `-- quick` or `-- long`.
//! - `src/bin/rss.rs`: peak RSS of a fresh child process per store.
//! - `src/bin/plots.rs`: SVG plots and tables from the results (feature `plots`).
//!
//! Quick mode (`TWINKV_BENCH_QUICK=1`, what CI runs) shrinks every size so
//! that each group runs in a few seconds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use twinkv_core::{Config, Geometry, RamRegion, Store};
use twinkv_host::VecIndex;

pub mod embkv;
#[cfg(feature = "peers-embedded")]
pub mod flash_peers;

/// Quick mode: small sizes, few iterations (CI). Set by `TWINKV_BENCH_QUICK`
/// (any value but `0`) or by criterion's `--test` / `--quick` arguments.
pub fn quick() -> bool {
    match std::env::var("TWINKV_BENCH_QUICK") {
        Ok(v) => v != "0",
        Err(_) => std::env::args().any(|a| a == "--test" || a == "--quick"),
    }
}

/// Long mode (`TWINKV_BENCH_LONG=1`): adds the 1M-key points.
pub fn long() -> bool {
    std::env::var("TWINKV_BENCH_LONG").is_ok_and(|v| v != "0")
}

/// Live-key counts of the host tables for this mode.
pub fn live_key_counts() -> Vec<usize> {
    if quick() {
        vec![1_000]
    } else if long() {
        vec![1_000, 100_000, 1_000_000]
    } else {
        vec![1_000, 100_000]
    }
}

/// Key `i`: exactly 16 bytes, `k` then 15 decimal digits.
pub fn key(i: u64) -> [u8; 16] {
    let mut k = *b"k000000000000000";
    let mut x = i;
    for b in k[1..].iter_mut().rev() {
        *b = b'0' + (x % 10) as u8;
        x /= 10;
    }
    k
}

/// A value of `len` bytes derived from `i` (so overwrites change bytes).
pub fn value(i: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let mut s = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in v.iter_mut() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *b = s as u8;
    }
    v
}

/// A deterministic pseudo-random permutation of `0..n` (SplitMix64 + Fisher-Yates).
pub fn shuffled(n: usize, seed: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n as u64).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        v.swap(i, (z % (i as u64 + 1)) as usize);
    }
    v
}

/// Bytes one record of a `k`-byte key and `v`-byte value takes at write unit 4.
pub fn record_len(k: usize, v: usize) -> u32 {
    twinkv_core::format::record::stored_len(k as u32, v as u32, 4).expect("record fits")
}

/// The smallest multiple of 512 at least `bytes`.
pub fn round512(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(512) * 512).expect("region under 4 GiB")
}

/// Region size for `keys` live keys of `k`+`v` bytes taking `share` of the
/// region (e.g. 0.25: a switch after about 2.2× the live data is appended at
/// the default 80 % high-water ratio), at least 64 KiB.
pub fn region_for(keys: usize, k: usize, v: usize, share: f64) -> u32 {
    let live = keys as f64 * f64::from(record_len(k, v));
    round512(((live / share) as u64 + 4096).max(64 << 10))
}

// ----- twinkv on RamRegion ----------------------------------------------------

/// twinkv-core on two [`RamRegion`]s (durability: none; RAM persists in order).
pub type RamStore = Store<RamRegion<Vec<u8>>, VecIndex, Vec<u8>>;

/// Geometry of the RAM regions: the host files' (write unit 4, erase unit 512).
pub fn ram_geometry(size: u32) -> Geometry {
    Geometry {
        size,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 512,
    }
}

/// Configuration of the RAM stores: values up to 4 KiB, default ratios.
pub fn ram_config() -> Config {
    Config::new(0xBE7C_4000).with_limits(63, 4096)
}

/// A fresh RAM store of two `size`-byte regions.
pub fn ram_store(size: u32, config: Config) -> RamStore {
    let geo = ram_geometry(size);
    let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
    let a = RamRegion::new(vec![0u8; len], geo).expect("region");
    let b = RamRegion::new(vec![0u8; len], geo).expect("region");
    let scratch = vec![0u8; RamStore::scratch_len(&config, 4)];
    Store::open(a, b, VecIndex::new(), scratch, config).expect("open")
}

/// Reopens a RAM store from its regions' bytes: a full scan and replay.
pub fn ram_reopen(a: RamRegion<Vec<u8>>, b: RamRegion<Vec<u8>>, config: Config) -> RamStore {
    let scratch = vec![0u8; RamStore::scratch_len(&config, 4)];
    Store::open(a, b, VecIndex::new(), scratch, config).expect("reopen")
}

/// Loads `live` keys with `vlen`-byte values, then overwrites them in rounds
/// until the used bytes reach `used_over_live` × the live bytes (switching
/// never happens if the region is big enough: checked).
pub fn ram_store_with_history(live: usize, vlen: usize, used_over_live: f64) -> RamStore {
    let rec = f64::from(record_len(16, vlen));
    let live_bytes = live as f64 * rec;
    // Used bytes may reach the 80 % high-water ratio: size for used / 0.75.
    let size = round512((live_bytes * used_over_live / 0.75) as u64 + 65_536);
    // No erase ahead: its erased records would add to the history's ratio.
    let mut s = ram_store(size, ram_config().with_erase_ahead(false));
    let total = (live as f64 * used_over_live).round() as u64;
    for i in 0..total {
        let k = i % live as u64;
        s.set(&key(k), &value(i, vlen)).expect("set");
    }
    assert_eq!(s.stats().switches, 0, "region too small for the history");
    s
}

// ----- twinkv on files ----------------------------------------------------------

/// A directory for store files: `$TWINKV_BENCH_DIR` or a temp dir (ext4 or
/// whatever `/tmp` is; BENCHMARKS.md names the file system).
pub fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("TWINKV_BENCH_DIR") {
        Some(d) => {
            std::fs::create_dir_all(&d).expect("bench dir");
            tempfile::tempdir_in(d).expect("temp dir")
        }
        None => tempfile::tempdir().expect("temp dir"),
    }
}

/// Bulk-loads `keys` keys (`key(0..keys)`) with `vlen`-byte values through
/// `set_many` batches of 1,000, then syncs.
pub fn bulk_load(store: &mut twinkv_host::Store, keys: usize, vlen: usize) {
    let mut i = 0u64;
    while (i as usize) < keys {
        let end = (i + 1000).min(keys as u64);
        let batch: Vec<([u8; 16], Vec<u8>)> = (i..end).map(|j| (key(j), value(j, vlen))).collect();
        store.set_many(batch).expect("set_many");
        i = end;
    }
    store.sync().expect("sync");
}

/// Bytes of both region files.
pub fn file_pair_bytes(base: &Path) -> u64 {
    let (a, b) = twinkv_host::region_paths(base);
    [a, b]
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum()
}

// ----- process counters -----------------------------------------------------------

/// `(VmHWM, VmRSS, RssAnon, RssFile)` in KiB from `/proc/self/status` (zeros elsewhere).
pub fn proc_status_kib() -> (u64, u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let f = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (f("VmHWM:"), f("VmRSS:"), f("RssAnon:"), f("RssFile:"))
}

/// Bytes this process has caused to be written to storage (`write_bytes`
/// of `/proc/self/io`: page-cache write-back and direct writes), 0 elsewhere.
pub fn proc_write_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("write_bytes:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

// ----- small statistics ----------------------------------------------------------

/// Median of `xs` (sorted in place); 0 when empty.
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Runs `f` `reps` times, returns the median of its durations in seconds.
pub fn median_secs(reps: usize, mut f: impl FnMut() -> Duration) -> f64 {
    let mut xs: Vec<f64> = (0..reps).map(|_| f().as_secs_f64()).collect();
    median(&mut xs)
}

/// Times `f` once.
pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// Where the result JSON files go: `$TWINKV_BENCH_OUT` or `target/bench-results`
/// under the workspace.
pub fn results_dir() -> PathBuf {
    let d = match std::env::var_os("TWINKV_BENCH_OUT") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results"),
    };
    std::fs::create_dir_all(&d).expect("results dir");
    d
}

/// Writes `value` as pretty JSON to `results_dir()/name.json` (skipped in quick mode).
pub fn save_json(name: &str, value: &serde_json::Value) {
    if quick() {
        return;
    }
    let p = results_dir().join(format!("{name}.json"));
    std::fs::write(&p, serde_json::to_string_pretty(value).expect("json")).expect("write results");
    eprintln!("results: {}", p.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_16_bytes_and_distinct() {
        assert_eq!(&key(42), b"k000000000000042");
        assert_ne!(key(1), key(10));
        let p = shuffled(1000, 7);
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn history_store_has_the_asked_ratio() {
        let s = ram_store_with_history(1000, 16, 4.0);
        let st = s.stats();
        assert_eq!(st.live_keys, 1000);
        let r = f64::from(st.used_bytes) / f64::from(st.live_bytes);
        assert!((3.9..4.1).contains(&r), "{r}");
    }
}

/// The Rust blocks of the repository's README.md, compiled and run as doc
/// tests here: the published crates compile their own READMEs (core/README.md,
/// host/README.md), and a path outside a package cannot be included by it.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
