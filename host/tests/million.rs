//! 1,000,000 keys of 16 bytes with 16-byte values in 64 MiB regions: works
//! without stack overflow; prints heap bytes per key, RSS and timings.

use std::time::Instant;

use twinkv_host::core::{Config, Index};
use twinkv_host::{MmapRegion, Options, Store, VecIndex};

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const N: u32 = 1_000_000;

fn key(i: u32) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    k[4..].copy_from_slice(format!("{i:012}").as_bytes());
    k
}

#[test]
fn a_million_keys() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("big");
    let opts = Options::new().region_size(64 << 20).limits(16, 16);
    let t0 = Instant::now();
    let mut s = Store::open(&base, opts.clone()).unwrap();
    let t_create = t0.elapsed();
    let t1 = Instant::now();
    for i in 0..N {
        let k = key(i);
        s.set(k, k).unwrap();
    }
    let t_set = t1.elapsed();
    assert_eq!(s.len(), N as usize);
    let st = s.stats().unwrap();
    drop(s);
    let t2 = Instant::now();
    let s = Store::open(&base, opts).unwrap();
    let t_open = t2.elapsed();
    let rss = rss_kib();
    let t3 = Instant::now();
    for i in (0..N).step_by(7) {
        let k = key(i);
        assert_eq!(s.get(k).unwrap(), Some(&k[..]));
    }
    let t_get = t3.elapsed();
    assert_eq!(s.len(), N as usize);
    let config = s.config();
    drop(s);
    let (index_bytes, scratch) = index_heap(&base, config);
    let heap = index_bytes + scratch;
    eprintln!(
        "1M keys: create {:.2} s, {N} sets {:.2} s, reopen {:.2} s, {} gets {:.2} s; \
         live {} B, used {} B of {} B; heap {} B (index {} B, scratch {} B) = {:.1} B/key; RSS {:?} KiB",
        t_create.as_secs_f64(),
        t_set.as_secs_f64(),
        t_open.as_secs_f64(),
        N / 7 + 1,
        t_get.as_secs_f64(),
        st.live_bytes,
        st.used_bytes,
        st.capacity,
        heap,
        index_bytes,
        scratch,
        heap as f64 / f64::from(N),
        rss
    );
}

/// Heap held by an open store's index and scratch buffer: core's store opened
/// directly on the files, taken apart.
fn index_heap(base: &std::path::Path, config: Config) -> (usize, usize) {
    let (pa, pb) = twinkv_host::region_paths(base);
    let map = |p: &std::path::Path| {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap();
        f.try_lock().unwrap();
        MmapRegion::new(f, false).unwrap()
    };
    type S = twinkv_host::core::Store<MmapRegion, VecIndex, Vec<u8>>;
    let scratch = vec![0u8; S::scratch_len(&config, 4)];
    let s = S::open_read_only(map(&pa), map(&pb), VecIndex::new(), scratch, config).unwrap();
    let (_, _, index, scratch) = s.into_parts();
    assert_eq!(index.len(), N as usize);
    (index.heap_bytes(), scratch.capacity())
}
