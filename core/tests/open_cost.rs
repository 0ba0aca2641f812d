//! What an open reads (FORMAT.md §6.2, §8 "What open reads"): the header
//! areas, the active log once, past its end one erase unit (or one largest
//! record) in full and a probe of 8 bytes per later erase unit — not the
//! unused part of the region. Counted with the RAM region's read counter.

use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};

const E: u32 = 4096;
const W: u32 = 4;
/// Data start at W = 4 (FORMAT.md §1).
const D: u64 = 84;
/// Bytes of each probe (FORMAT.md §6.2).
const PROBE: u64 = 8;

type S = Store<RamRegion<Vec<u8>>, FixedIndex<64>, Vec<u8>>;

fn config(erase_ahead: bool) -> Config {
    Config::new(0x0B0E)
        .with_limits(16, 600)
        .with_erase_ahead(erase_ahead)
}

fn regions(
    size: u32,
    a: Option<Vec<u8>>,
    b: Option<Vec<u8>>,
) -> (RamRegion<Vec<u8>>, RamRegion<Vec<u8>>) {
    let geo = Geometry {
        size,
        read_unit: 1,
        write_unit: W,
        erase_unit: E,
    };
    let len = RamRegion::<Vec<u8>>::storage_len(size, W, E);
    let make = |s: Option<Vec<u8>>| match s {
        Some(s) => RamRegion::with_contents(s, geo).unwrap(),
        None => RamRegion::new(vec![0u8; len], geo).unwrap(),
    };
    (make(a), make(b))
}

fn open(a: RamRegion<Vec<u8>>, b: RamRegion<Vec<u8>>, erase_ahead: bool) -> S {
    let cfg = config(erase_ahead);
    let scratch = vec![0u8; S::scratch_len(&cfg, W)];
    Store::open(a, b, FixedIndex::new(), scratch, cfg).unwrap()
}

fn value(i: u32) -> Vec<u8> {
    let mut v = format!("value {i} ").into_bytes();
    v.resize(500, b'a' + (i % 26) as u8);
    v
}

/// A store of `size`-byte regions holding `keys` values of 500 bytes:
/// the first write with erase ahead on (the log then says the partner is
/// ours, so open does not read it), the rest with it off (the logs of two
/// sizes stay byte for byte the same length). Returns the bytes the reopen
/// read, the used bytes and the erase units per region.
fn reopen_cost(size: u32, keys: u32) -> (u64, u64, u64) {
    let (a, b) = regions(size, None, None);
    let mut s = open(a, b, true);
    s.set(b"key 0", &value(0)).unwrap();
    let (a, b, _, _) = s.into_parts();
    let mut s = open(a, b, false);
    for i in 1..keys {
        s.set(format!("key {i}").as_bytes(), &value(i)).unwrap();
    }
    assert_eq!(s.stats().switches, 0);
    let (a, b, _, _) = s.into_parts();
    let (a, b) = regions(size, Some(a.into_inner()), Some(b.into_inner()));
    let mut s = open(a, b, false);
    let (ra, rb) = s.regions();
    let read = ra.stats().bytes_read + rb.stats().bytes_read;
    let used = u64::from(s.stats().used_bytes);
    for i in 0..keys {
        let mut buf = [0u8; 600];
        let n = s
            .get(format!("key {i}").as_bytes(), &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(buf[..n], value(i)[..]);
    }
    (read, used, u64::from(size / E))
}

/// A short log in a large region: the open reads the log, not the region,
/// within the bound of issue 13 (1.1 × used + header areas + one erase
/// unit) plus the probes.
#[test]
fn open_reads_the_log_not_the_region() {
    let size = 1 << 20;
    let (read, used, units) = reopen_cost(size, 8);
    // Both header areas, the commit read four times over (FORMAT.md §3).
    let header_areas = 2 * 2 * D;
    let bound = used + used / 10 + header_areas + u64::from(E) + PROBE * units;
    assert!(
        read <= bound,
        "open read {read} B for a log of {used} B in a {size} B region (bound {bound})"
    );
    assert!(read >= used, "the log is read in full");
    // Before, open read the unused part in full.
    assert!(read < u64::from(size) / 64, "open read {read} B");
}

/// Growing the region by `n` erase units adds exactly `n` probes to what an
/// open of the same log reads.
#[test]
fn open_cost_grows_by_one_probe_per_erase_unit() {
    let (small, used_small, units_small) = reopen_cost(64 << 10, 6);
    let (large, used_large, units_large) = reopen_cost(4 << 20, 6);
    assert_eq!(used_small, used_large, "the same log");
    assert_eq!(large - small, PROBE * (units_large - units_small));
}
