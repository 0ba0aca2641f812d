//! Growth of host stores (Options#growth), `Full` and `OptionsConflict`
//! messages, and the sizing figures of Options#sizing and the README.

use std::collections::BTreeMap;
use std::path::PathBuf;

use twinkv_host::core::format::record::stored_len;
use twinkv_host::core::{fill_limit, Config};
use twinkv_host::{Error, GrowthStop, Options, Store, DEFAULT_REGION_SIZE};

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("store");
    (dir, base)
}

fn small() -> Options {
    Options::new().region_size(4096).limits(16, 64)
}

fn contents(s: &Store) -> BTreeMap<Vec<u8>, Vec<u8>> {
    s.to_hashmap().unwrap().into_iter().collect()
}

/// Growth is on by default, grows one file at a time (never both region
/// sizes in one write), and keeps every key, also across reopens.
#[test]
fn default_growth_keeps_every_key() {
    let (_d, base) = tmp();
    let mut s = Store::open(&base, small()).unwrap();
    let mut model = BTreeMap::new();
    let mut sizes = s.region_sizes();
    let mut steps = 0;
    for i in 0..3000u32 {
        let (k, v) = (format!("key{i}"), format!("value {i}"));
        s.set(&k, &v).unwrap();
        model.insert(k.into_bytes(), v.into_bytes());
        let now = s.region_sizes();
        assert!(
            now.0 == sizes.0 || now.1 == sizes.1,
            "write {i} changed both sizes: {sizes:?} -> {now:?}"
        );
        if now != sizes {
            steps += 1;
            sizes = now;
        }
        if i % 500 == 499 {
            assert_eq!(contents(&s), model);
            drop(s);
            s = Store::open(&base, small()).unwrap();
            assert_eq!(contents(&s), model);
            sizes = s.region_sizes();
        }
    }
    let (a, b) = s.region_sizes();
    assert!(a >= 65536 && b >= 65536, "grew to {a}/{b}");
    assert!(steps >= 8, "{steps} growth steps");
    drop(s);
    // Reopening with the original (smaller) size option: the recorded size wins.
    let s = Store::open(&base, small()).unwrap();
    assert_eq!(s.region_sizes(), (a, b));
    assert_eq!(contents(&s), model);
}

/// Growth off: `Full` with the figures and the remedy; the store stays usable.
#[test]
fn full_when_growth_is_off() {
    let (_d, base) = tmp();
    let mut s = Store::open(&base, small().auto_grow(false)).unwrap();
    let mut n = 0;
    let e = loop {
        match s.set(format!("key{n}"), "0123456789") {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(e.is_full(), "{e}");
    assert_eq!(
        e.core_cause().map(|c| c.to_string()),
        Some("store is full".into())
    );
    let st = s.stats().unwrap();
    let Error::Full {
        live,
        write,
        limit,
        region_size,
        max_fill_bp,
        ref growth,
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(live, u64::from(st.live_bytes));
    assert_eq!(limit, u64::from(st.fill_limit));
    assert_eq!(limit, u64::from(fill_limit(4096 - 84, 9000)));
    let key_len = format!("key{n}").len() as u32;
    assert_eq!(write, u64::from(stored_len(key_len, 10, 4).unwrap()));
    assert!(live + write > limit);
    assert_eq!((region_size, max_fill_bp), (4096, 9000));
    assert_eq!(growth, &GrowthStop::Off);
    let msg = e.to_string();
    for want in [
        format!("{live} live bytes"),
        format!("up to {write} for this write"),
        format!("limit of {limit} bytes"),
        "90 % of the 4012-byte capacity of 4096-byte regions".into(),
        "growth is off".into(),
        "twinkv resize".into(),
        "Store::resize".into(),
        "Options::auto_grow(true)".into(),
        "8192 leaves room".into(),
    ] {
        assert!(msg.contains(&want), "{want}: {msg}");
    }
    assert_eq!(s.region_sizes(), (4096, 4096));
    // Still usable: an overwrite that does not grow, a delete.
    s.set("key0", "9876543210").unwrap();
    assert!(s.remove("key1").unwrap());
    assert_eq!(s.len(), n - 1);
}

/// A maximum region size stops growth there with `Full`, naming it.
#[test]
fn full_at_the_maximum_region_size() {
    let (_d, base) = tmp();
    let mut s = Store::open(&base, small().max_region_size(16384 + 100)).unwrap();
    let mut model = BTreeMap::new();
    let e = loop {
        let n = model.len();
        let (k, v) = (format!("key{n}"), format!("value {n}"));
        match s.set(&k, &v) {
            Ok(()) => {
                model.insert(k.into_bytes(), v.into_bytes());
            }
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            e,
            Error::Full {
                growth: GrowthStop::AtMax(16384),
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("maximum region size of 16384 bytes"), "{msg}");
    assert!(msg.contains("Options::max_region_size"), "{msg}");
    assert_eq!(s.region_sizes(), (16384, 16384));
    assert_eq!(contents(&s), model);
    drop(s);
    let s = Store::open(&base, Options::new()).unwrap();
    assert_eq!(contents(&s), model);
}

/// A fill that fails (a full disk) stops growth; writes go on until `Full`,
/// which names the failure.
#[test]
fn disk_full_while_growing() {
    let (_d, base) = tmp();
    let mut s = Store::open(&base, small()).unwrap();
    twinkv_host::hooks::enospc_at_fill(1);
    let mut n = 0;
    let e = loop {
        match s.set(format!("key{n}"), "0123456789") {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    twinkv_host::hooks::enospc_at_fill(0);
    assert!(
        matches!(
            e,
            Error::Full {
                growth: GrowthStop::Failed(_),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("growing the store failed"), "{e}");
    assert_eq!(s.region_sizes(), (4096, 4096));
    let (a, b) = twinkv_host::region_paths(&base);
    assert_eq!(std::fs::metadata(&a).unwrap().len(), 4096);
    assert_eq!(std::fs::metadata(&b).unwrap().len(), 4096);
    drop(s);
    // Reopened, it grows again.
    let mut s = Store::open(&base, Options::new()).unwrap();
    s.set(format!("key{n}"), "0123456789").unwrap();
    assert_eq!(s.len(), n + 1);
}

/// Options that conflict with the store: the figures and the remedy.
#[test]
fn options_conflict_messages() {
    let (_d, base) = tmp();
    drop(Store::open(&base, small()).unwrap());
    let e = Store::open(&base, Options::new().limits(20, 64)).unwrap_err();
    let msg = e.to_string();
    for want in [
        "max key length",
        "records 16",
        "20 was asked",
        "leave the option out",
    ] {
        assert!(msg.contains(want), "{want}: {msg}");
    }
    let e = Store::open(&base, Options::new().region_size(8192)).unwrap_err();
    let msg = e.to_string();
    for want in [
        "regions are 4096 bytes",
        "8192 was asked",
        "twinkv resize",
        "leave the option out",
    ] {
        assert!(msg.contains(want), "{want}: {msg}");
    }
    // Smaller than the store: opens at the recorded size.
    assert_eq!(
        Store::open(&base, Options::new().region_size(1024).limits(16, 64))
            .unwrap()
            .region_sizes(),
        (4096, 4096)
    );
}

/// A committed region whose file a growth step had extended (erased bytes
/// past it) opens, and the extension is cut off; other bytes there are
/// refused as before.
#[test]
fn extension_past_a_committed_region() {
    let (_d, base) = tmp();
    let mut s = Store::open(&base, small()).unwrap();
    s.set("a", "1").unwrap();
    let active = s.stats().unwrap().active;
    drop(s);
    let (pa, pb) = twinkv_host::region_paths(&base);
    let p = if active == twinkv_host::RegionId::A {
        &pa
    } else {
        &pb
    };
    let extend = |byte: u8| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(&vec![byte; 2048 + 100]).unwrap();
    };
    extend(0xFF);
    let r = twinkv_host::inspect::verify_store(&base, false).unwrap();
    assert!(
        matches!(r.verdict, twinkv_host::inspect::Verdict::Clean),
        "{:?}",
        r.verdict
    );
    let snap = Store::open_snapshot(&base).unwrap();
    assert_eq!(snap.get("a").unwrap(), Some(&b"1"[..]));
    drop(snap);
    let s = Store::open(&base, Options::new()).unwrap();
    assert_eq!(s.get("a").unwrap(), Some(&b"1"[..]));
    drop(s);
    assert_eq!(std::fs::metadata(p).unwrap().len(), 4096);
    extend(0x00);
    let e = Store::open(&base, Options::new()).unwrap_err();
    assert!(matches!(e, Error::NotARegion { .. }), "{e}");
    assert!(e.to_string().contains("left unchanged"), "{e}");
}

/// The figures of Options#sizing and the README, from the code.
#[test]
fn sizing_figures() {
    let w = 4;
    assert_eq!(stored_len(16, 16, w), Some(40));
    assert_eq!(stored_len(16, 1000, w), Some(1024));
    assert_eq!(stored_len(16, 10_000, w), Some(10_032));
    assert_eq!(stored_len(63, 8191, w), Some(8 + 63 + 8191 + 2));
    assert_eq!(stored_len(64, 0, w), Some(16 + 64));
    let c = Config::new(1);
    assert_eq!((c.high_water_bp, c.max_fill_bp), (8000, 9000));
    let cap = |size: u32| size - 84;
    // The default 1 MiB region.
    let f = fill_limit(cap(DEFAULT_REGION_SIZE), 9000);
    assert_eq!(f, 943_642);
    assert_eq!(f / 40, 23_591);
    // 100 000 such pairs: 4 000 000 live bytes; the smallest region.
    let live = 100_000 * 40;
    let min = (1..)
        .map(|u| u * 512)
        .find(|&s| fill_limit(cap(s), 9000) >= live)
        .unwrap();
    assert_eq!(min, 4_444_672);
    // 16 MiB: bytes written between switches, and sets of 40 B.
    let hw = fill_limit(cap(16 << 20), 8000);
    assert_eq!(hw - live, 9_421_705);
    assert_eq!((hw - live) / 40, 235_542);
    // Every switch frees at least C × (1 − max-fill).
    assert_eq!(cap(16 << 20) - fill_limit(cap(16 << 20), 9000), 1_677_714);
}

/// The default store fills at 23 591 pairs of 16 B + 16 B without growth,
/// and its `Full` says so in figures.
#[test]
fn default_store_holds_23591_pairs_without_growth() {
    let (_d, base) = tmp();
    let mut s = Store::open(&base, Options::new().auto_grow(false)).unwrap();
    for i in 0..23_591u32 {
        s.set(format!("key-{i:012}"), format!("val-{i:012}"))
            .unwrap();
    }
    let e = s.set("key-999999999999", "val-999999999999").unwrap_err();
    // The example in the README, verbatim.
    assert_eq!(
        e.to_string(),
        "store is full: 943640 live bytes + up to 40 for this write exceed the limit of \
         943642 bytes (90 % of the 1048492-byte capacity of 1048576-byte regions); growth \
         is off: make the regions larger with `twinkv resize` / `Store::resize` (at least \
         1049088 bytes; 2097152 leaves room), or open the store with \
         `Options::auto_grow(true)`"
    );
    drop(s);
    // With growth (the default), the same store takes it.
    let mut s = Store::open(&base, Options::new()).unwrap();
    s.set("key-999999999999", "val-999999999999").unwrap();
    assert_eq!(s.len(), 23_592);
}
