//! What an open reads (FORMAT.md §6.2, §8 "What open reads"): the header
//! areas, the active log once, past its end one erase unit (or one largest
//! record) in full and a probe per later erase unit — not the unused part
//! of the region. Counted with the RAM region's read counter.

use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};

const E: u32 = 4096;
const W: u32 = 4;
/// Data start at W = 4 (FORMAT.md §1).
const D: u64 = 84;
/// Bytes of each probe (FORMAT.md §6.2): one largest record where the
/// region's probes of that length read at most one erase unit together,
/// else the erase unit over the number of units, and at least 8.
fn probe(config: &Config, w: u32, size: u32) -> u64 {
    let r = config.max_record_len(w).unwrap();
    u64::from((E / (size / E)).max(8).min(r).min(E))
}

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
    let probes = probe(&config(false), W, size) * units;
    // The probes of a region read at most one erase unit together (or 8
    // bytes each): 16 bytes here.
    assert!(probes <= u64::from(E).max(8 * units), "{probes}");
    let bound = used + used / 10 + header_areas + u64::from(E) + probes;
    assert!(
        read <= bound,
        "open read {read} B for a log of {used} B in a {size} B region (bound {bound})"
    );
    assert!(read >= used, "the log is read in full");
    // Before, open read the unused part in full.
    assert!(read < u64::from(size) / 64, "open read {read} B");
}

/// Growing the region by `n` erase units of 8-byte probes (regions of 512
/// or more units here) adds exactly `n` probes to what an open of the same
/// log reads.
#[test]
fn open_cost_grows_by_one_probe_per_erase_unit() {
    let (small, used_small, units_small) = reopen_cost(2 << 20, 6);
    let (large, used_large, units_large) = reopen_cost(4 << 20, 6);
    assert_eq!(used_small, used_large, "the same log");
    assert_eq!(probe(&config(false), W, 2 << 20), 8);
    assert_eq!(probe(&config(false), W, 4 << 20), 8);
    assert_eq!(large - small, 8 * (units_large - units_small));
}

/// The same log in regions of 16 to 1,024 erase units: past the span read
/// in full (to one largest record past the end of the unit where the log
/// ends, `c`), an open reads `P` bytes at the start of each later unit,
/// `P` = one largest record (624 B here) while the region's probes of that
/// length read at most one erase unit together, else 4 KiB over the
/// number of units, at least 8: 256, 128, 16 and 8 bytes below. The rest
/// of what it reads does not depend on the region's size.
#[test]
fn probes_read_at_most_one_erase_unit_together() {
    let cfg = config(false);
    let r = u64::from(cfg.max_record_len(W).unwrap());
    let mut rest = Vec::new();
    for size in [64u32 << 10, 128 << 10, 1 << 20, 4 << 20] {
        let (read, used, units) = reopen_cost(size, 6);
        // The log ends at `D + used`; `c` as FORMAT.md §6.2 has it.
        let p = D + used;
        let c = ((p / u64::from(E)) + 1) * u64::from(E) + r;
        let probed = units - c.div_ceil(u64::from(E));
        let probes = probe(&cfg, W, size) * probed;
        assert!(probes <= u64::from(E).max(8 * units), "{size}: {probes}");
        rest.push(read - probes);
    }
    assert_eq!(
        [
            probe(&cfg, W, 64 << 10),
            probe(&cfg, W, 128 << 10),
            probe(&cfg, W, 1 << 20)
        ],
        [256, 128, 16]
    );
    assert!(rest.windows(2).all(|w| w[0] == w[1]), "{rest:?}");
}

/// Small records (FORMAT.md §8, "What open reads"): on a region that does
/// not lend its bytes — the RAM region counts every read, as a flash would —
/// the replay reads each record once, with reads as large as the scratch
/// buffer, and an overwrite adds one read of the replaced record's short
/// header and key (the index's key comparison). 16-byte keys and values,
/// the benchmarks' configuration (keys ≤ 16 B, values ≤ 64 B).
mod small_records {
    use super::*;
    use twinkv_core::format::Layout;

    const SIZE: u32 = 64 << 10;
    const KEY: u64 = 16;

    type T = Store<RamRegion<Vec<u8>>, FixedIndex<1024>, Vec<u8>>;

    fn cfg() -> Config {
        Config::new(0x5A11).with_limits(16, 64)
    }

    fn region(w: u32, bytes: Option<Vec<u8>>) -> RamRegion<Vec<u8>> {
        let geo = Geometry {
            size: SIZE,
            read_unit: 1,
            write_unit: w,
            erase_unit: E,
        };
        match bytes {
            Some(b) => RamRegion::with_contents(b, geo).unwrap(),
            None => {
                let len = RamRegion::<Vec<u8>>::storage_len(SIZE, w, E);
                RamRegion::new(vec![0u8; len], geo).unwrap()
            }
        }
    }

    fn open_w(w: u32, a: RamRegion<Vec<u8>>, b: RamRegion<Vec<u8>>) -> T {
        let scratch = vec![0u8; T::scratch_len(&cfg(), w)];
        Store::open(a, b, FixedIndex::new(), scratch, cfg()).unwrap()
    }

    /// The regions of `s`, as a reboot finds them (counters reset).
    fn reboot(w: u32, s: T) -> T {
        let (a, b, _, _) = s.into_parts();
        open_w(
            w,
            region(w, Some(a.into_inner())),
            region(w, Some(b.into_inner())),
        )
    }

    fn key(k: u32) -> [u8; 16] {
        let mut out = [b'k'; 16];
        out[1..].copy_from_slice(format!("{k:015}").as_bytes());
        out
    }

    fn value(i: u32) -> [u8; 16] {
        core::array::from_fn(|j| (i as u8).wrapping_mul(31).wrapping_add(j as u8))
    }

    /// The value of set `i` over `keys` keys: 16 bytes, or with `grow`, 16
    /// and 40 bytes in turn from one round over the keys to the next (a
    /// record of another stored length at W 4 and W 16).
    fn value_of(i: u32, keys: u32, grow: bool) -> Vec<u8> {
        let mut v = value(i).to_vec();
        if grow && (i / keys) % 2 == 1 {
            v.extend_from_slice(&[0x5C; 24]);
        }
        v
    }

    /// What an open of the log left by `updates` sets round-robin over
    /// `keys` keys (a reboot after set `reboot_at`, if given; values as
    /// [`value_of`]) reads: bytes, read calls, and the log's used bytes.
    /// Every value reads back.
    fn open_cost(
        w: u32,
        keys: u32,
        updates: u32,
        reboot_at: Option<u32>,
        grow: bool,
    ) -> (u64, u64, u64) {
        let mut s = open_w(w, region(w, None), region(w, None));
        for i in 0..updates {
            s.set(&key(i % keys), &value_of(i, keys, grow)).unwrap();
            if Some(i) == reboot_at {
                s = reboot(w, s);
            }
        }
        let mut s = reboot(w, s);
        let (ra, rb) = s.regions();
        let read = ra.stats().bytes_read + rb.stats().bytes_read;
        let calls = ra.stats().reads + rb.stats().reads;
        let used = u64::from(s.stats().used_bytes);
        for k in 0..keys.min(updates) {
            let newest = (0..updates).rev().find(|i| i % keys == k).unwrap();
            let mut buf = [0u8; 64];
            let n = s.get(&key(k), &mut buf).unwrap().unwrap();
            assert_eq!(buf[..n], value_of(newest, keys, grow));
        }
        (read, calls, used)
    }

    /// Header areas (the commit read four times over), one erase unit and
    /// the probes: what an open reads besides the log (FORMAT.md §8).
    fn besides_log(w: u32) -> u64 {
        let d = u64::from(Layout::new(w).data_start());
        2 * 2 * d + u64::from(E) + probe(&cfg(), w, SIZE) * u64::from(SIZE / E)
    }

    /// Reads an open may make besides those of the log: header areas and
    /// markers, the lazy check past the log, the probes.
    const OTHER_CALLS: u64 = 16 + (SIZE / E) as u64;

    /// Stored length of one record (16-byte key and value) at `w`.
    fn record_len(w: u32) -> u64 {
        (8 + 2 * KEY).div_ceil(u64::from(w)) * u64::from(w)
    }

    /// Every record a distinct key (no index comparison): bytes read ≤
    /// 1.1 × used + header areas + one erase unit (+ probes), the bound of
    /// issue 13.3, and at most one read call per half scratch buffer of log
    /// (its largest record) besides the others. Before the replay read
    /// through the scratch buffer, an open read each record 1.4 times (a
    /// 16-byte slot, then the record for its check) in 3 calls.
    #[test]
    fn each_record_is_read_once() {
        for w in [4, 16] {
            let half = T::scratch_len(&cfg(), w) as u64 / 2;
            for reboot_at in [None, Some(450)] {
                let (read, calls, used) = open_cost(w, 900, 900, reboot_at, false);
                assert!(used >= 900 * record_len(w));
                let bound = used + used / 10 + besides_log(w);
                assert!(
                    read <= bound,
                    "W {w}, reboot {reboot_at:?}: read {read} B for a log of {used} B (bound {bound})"
                );
                let call_bound = used / half + OTHER_CALLS;
                assert!(
                    calls <= call_bound,
                    "W {w}, reboot {reboot_at:?}: {calls} read calls for {used} B (bound {call_bound})"
                );
            }
        }
    }

    /// 32 keys overwritten thousands of times (switches included), each
    /// value as long as the one it replaces: every overwrite is written as
    /// an update (FORMAT.md §4.3) and the open takes its claim (§6.5), so
    /// each record is read once, as in a log of distinct keys: bytes read ≤
    /// 1.1 × used + header areas + one erase unit (+ probes), the bound of
    /// issue 13.3, and read calls ≤ one per half scratch buffer of log +
    /// the others. Before updates, each overwrite added a read of the
    /// replaced record's short header and key (8 + 16 B): 1.6 B read per
    /// byte of log at W 4, one more read call per record.
    #[test]
    fn overwrites_of_equal_length_are_read_once() {
        for w in [4, 16] {
            let half = T::scratch_len(&cfg(), w) as u64 / 2;
            for updates in [1_000, 3_000, 5_000] {
                for reboot_at in [None, Some(updates / 2 + 7)] {
                    let (read, calls, used) = open_cost(w, 32, updates, reboot_at, false);
                    let bound = used + used / 10 + besides_log(w);
                    assert!(
                        read <= bound,
                        "W {w}, {updates} updates, reboot {reboot_at:?}: read {read} B for a log of {used} B (bound {bound})"
                    );
                    let call_bound = used / half + OTHER_CALLS;
                    assert!(
                        calls <= call_bound,
                        "W {w}, {updates} updates, reboot {reboot_at:?}: {calls} read calls for {used} B (bound {call_bound})"
                    );
                }
            }
        }
    }

    /// The same with values of another stored length each round: every
    /// overwrite is a set, and the open reads the replaced record's short
    /// header and key (8 + 16 B) to compare keys: bytes read ≤ 1.1 × used,
    /// plus 24 B per record, header areas, one erase unit and the probes;
    /// read calls ≤ one per half scratch buffer of log, plus one per record
    /// and the others. Before, an open read 2.2–2.6 bytes per byte of log in
    /// 6 calls per record.
    #[test]
    fn overwrites_of_another_length_add_one_key_read() {
        for w in [4, 16] {
            let half = T::scratch_len(&cfg(), w) as u64 / 2;
            let r = record_len(w);
            for updates in [1_000, 3_000, 5_000] {
                for reboot_at in [None, Some(updates / 2 + 7)] {
                    let (read, calls, used) = open_cost(w, 32, updates, reboot_at, true);
                    let records = used / r;
                    let bound = used + used / 10 + (8 + KEY) * records + besides_log(w);
                    assert!(
                        read <= bound,
                        "W {w}, {updates} updates, reboot {reboot_at:?}: read {read} B for a log of {used} B (bound {bound})"
                    );
                    let call_bound = used / half + records + OTHER_CALLS;
                    assert!(
                        calls <= call_bound,
                        "W {w}, {updates} updates, reboot {reboot_at:?}: {calls} read calls for {used} B (bound {call_bound})"
                    );
                }
            }
        }
    }
}
