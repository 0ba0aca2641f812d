//! The damage harness on `RamRegion`, in order (flash-like) and not in
//! order (a memory-mapped file's page cache): one fault at a time (bit flip,
//! byte 0x00/0xFF, an erase unit zeroed, erased or taken from an older image)
//! on stores at several points of their life, then a read-only open reading
//! every key, then a read-write open, a write, a reopen and every key again.
//! The oracle and the exceptions are in `twinkv_core::testkit::damage`; the table prints with
//! `--nocapture`.
//!
//! Quick mode (`cargo test`): every unit fault and a seeded sample of byte
//! faults. Long mode (`cargo test -- --ignored`, `.ci/stages/60-torture.sh`):
//! every byte of both regions, and double faults (damage, then a power cut
//! in the next write and switch).
//!
//! Also the named repros of issue 11 that apply to core.

use twinkv_core::format::{Layout, RegionHeader};
use twinkv_core::testkit::asynch::Front;
use twinkv_core::testkit::damage::*;
use twinkv_core::testkit::{Model, Power, Rig, TestStore, Write};
use twinkv_core::{Config, Error, FixedIndex, Geometry, RamRegion, Stats, Store, TearMode};

const SIZE: u32 = 1024;
const W: u32 = 4;
/// `Rig`'s erase unit.
const E: u32 = 256;
/// Byte faults sampled per (medium, lifecycle) in quick mode.
const QUICK_SAMPLE: usize = 200;

fn config() -> Config {
    Config::new(0xDA4A_6E00_0000_0011).with_limits(8, 24)
}

fn medium(in_order: bool, front: Front) -> &'static str {
    match (in_order, front) {
        (true, Front::Blocking) => "ram",
        (false, Front::Blocking) => "ram-pagecache",
        (true, Front::Async) => "ram async",
        (false, Front::Async) => "ram-pagecache async",
    }
}

struct Build<'r, 'p> {
    s: TestStore<'r, 'p>,
}

impl Builder for Build<'_, '_> {
    fn run(&mut self, step: &Write) {
        let r = step.run(&mut self.s);
        r.unwrap_or_else(|e| panic!("building the store: {step:?}: {e:?}"));
    }
    fn stats(&mut self) -> Stats {
        self.s.stats()
    }
    fn image(&mut self) -> Image {
        let (a, b) = self.s.regions();
        [a.ram.as_bytes().to_vec(), b.ram.as_bytes().to_vec()]
    }
}

use twinkv_core::MappedRegion;

fn build(script: &[Entry], in_order: bool) -> Trace {
    let power = Power::default();
    let mut rig = Rig::new(&power, SIZE, W, config());
    rig.set_in_order(in_order);
    let s = rig.open().expect("fresh store");
    let mut b = Build { s };
    play(&mut b, script, W, E, in_order, !in_order, false)
}

fn load(rig: &mut Rig<'_>, img: &Image) {
    rig.a.ram.data_mut().copy_from_slice(&img[0]);
    rig.b.ram.data_mut().copy_from_slice(&img[1]);
}

/// The probe through `front`: (1) read-only open, every key; (2)
/// read-write open, one write, reopen, every key and the new one.
fn probe(img: &Image, keys: &[Vec<u8>], in_order: bool, front: Front) -> Probe {
    guarded(|| {
        let power = Power::default();
        let mut rig = Rig::new(&power, SIZE, W, config());
        rig.set_in_order(in_order);
        load(&mut rig, img);
        let before = (img[0].clone(), img[1].clone());
        twinkv_core::testkit::damage::probe!(
            keys: keys,
            empty: is_empty(img),
            changed: rig.snapshot() != before,
            open_ro: rig.open_read_only_as(front),
            open_rw: rig.open_as(front),
            read: core_opened,
            write: core_write_phase,
            refusal: core_refusal,
        )
    })
}

/// The harness with every probe through `front` (the stores are built by
/// the blocking one: both write the same bytes, `cancel.rs` checks).
fn run(long: bool, front: Front) -> Table {
    let mut table = Table::default();
    for in_order in [true, false] {
        for (i, (life, script)) in lifecycles().into_iter().enumerate() {
            let t = build(&script, in_order);
            let keys = t.keys();
            let faults = faults_for(&t, long, QUICK_SAMPLE, 0xDA3A_0000 + i as u64, false);
            sweep(
                &mut table,
                medium(in_order, front),
                life,
                &t,
                &faults,
                |img| probe(img, &keys, in_order, front),
            );
        }
    }
    table
}

#[test]
fn damage_harness_ram_quick() {
    timed("damage harness, RamRegion, quick sample", false, |long| {
        run(long, Front::Blocking)
    });
}

/// The quick sample probed through the async store (each region call
/// suspending once): the same faults, the same oracle.
#[test]
fn damage_harness_ram_quick_through_the_async_store() {
    timed(
        "damage harness, RamRegion, quick sample, async store",
        false,
        |long| run(long, Front::Async),
    );
}

#[test]
#[ignore = "long mode: every byte of both regions (.ci/stages/60-torture.sh)"]
fn damage_harness_ram_exhaustive() {
    timed("damage harness, RamRegion, exhaustive", true, |long| {
        run(long, Front::Blocking)
    });
}

#[test]
#[ignore = "long mode: every byte of both regions (.ci/stages/60-torture.sh)"]
fn damage_harness_ram_exhaustive_through_the_async_store_long() {
    timed(
        "damage harness, RamRegion, exhaustive, async store",
        true,
        |long| run(long, Front::Async),
    );
}

/// Double faults: the damage, then a power cut at a step of the next write
/// and the switch after it (`compact`). The store must still show every
/// acknowledged key or `Corrupted` (exceptions as for one fault), and the
/// write after the fault, once acknowledged, must survive the cut.
#[test]
#[ignore = "long mode: double faults (.ci/stages/60-torture.sh)"]
fn damage_then_power_cut_ram() {
    damage_then_power_cut(Front::Blocking);
}

/// The same through the async store.
#[test]
#[ignore = "long mode: double faults (.ci/stages/60-torture.sh)"]
fn damage_then_power_cut_ram_through_the_async_store_long() {
    damage_then_power_cut(Front::Async);
}

fn damage_then_power_cut(front: Front) {
    let mut table = Table::default();
    let mut cuts = 0u64;
    for in_order in [true, false] {
        for (i, (life, script)) in lifecycles().into_iter().enumerate() {
            let t = build(&script, in_order);
            let keys = t.keys();
            let faults = faults_for(&t, false, 60, 0xC0FF_EE00 + i as u64, false);
            for f in &faults {
                let Some(a) = apply(&t, f) else { continue };
                let single = probe(&a.image, &keys, in_order, front);
                if !matches!(single.rw, Opened::Ok { .. }) {
                    continue;
                }
                // Steps of the uncut write and switch.
                let total = {
                    let power = Power::default();
                    let mut rig = Rig::new(&power, SIZE, W, config());
                    rig.set_in_order(in_order);
                    load(&mut rig, &a.image);
                    let mut s = rig.open_as(front).unwrap();
                    power.reset_steps();
                    let _ = s.set(NEW_KEY, NEW_VALUE).and_then(|_| s.compact());
                    power.steps()
                };
                let picks: Vec<u64> = (0..total.min(6))
                    .chain((6..total).step_by((total / 12).max(1) as usize))
                    .collect();
                for cut in picks {
                    cuts += 1;
                    let p = guarded(|| {
                        let power = Power::default();
                        let mut rig = Rig::new(&power, SIZE, W, config());
                        rig.set_in_order(in_order);
                        load(&mut rig, &a.image);
                        let mut s = rig.open_as(front).unwrap();
                        power.cut_after(cut, TearMode::Subset, cut ^ 0x5EED);
                        let acked = s.set(NEW_KEY, NEW_VALUE).is_ok();
                        let _ = s.compact();
                        drop(s);
                        rig.restore();
                        let re = match rig.open_as(front) {
                            Ok(mut s) => core_opened(&mut s, &with_new(&keys)),
                            Err(e) => core_refusal(&e, false, 0, false),
                        };
                        Probe {
                            ro: single.ro.clone(),
                            rw: single.rw.clone(),
                            wrote: acked.then_some(Ok(())),
                            re: Some(re),
                            panic: None,
                            refused_but_wrote: false,
                        }
                    });
                    let medium = format!("{}+cut", medium(in_order, front));
                    table.count(&medium, life, &t, f, &a, &judge(&t, f, &a, &p));
                }
            }
        }
    }
    println!("{cuts} power cuts after damage");
    table.finish(&format!(
        "damage then power cut, RamRegion, {front:?} store"
    ));
}

// ----- named repros of issue 11 ------------------------------------------------

/// Regions shaped like the host's files: W = 4, erase unit 512, not in order.
fn file_like(size: u32) -> (RamRegion<Vec<u8>>, RamRegion<Vec<u8>>) {
    let (mut a, mut b) = twinkv_core::testkit::ram_pair(size, 512);
    a.set_in_order(false);
    b.set_in_order(false);
    (a, b)
}

type RamStore<'a> = Store<&'a mut RamRegion<Vec<u8>>, FixedIndex<64>, Vec<u8>>;

fn open_rw<'a>(
    a: &'a mut RamRegion<Vec<u8>>,
    b: &'a mut RamRegion<Vec<u8>>,
    cfg: Config,
) -> Result<RamStore<'a>, Error<twinkv_core::RamError>> {
    Store::open(a, b, FixedIndex::new(), vec![0u8; 4096], cfg)
}

fn open_ro<'a>(
    a: &'a mut RamRegion<Vec<u8>>,
    b: &'a mut RamRegion<Vec<u8>>,
    cfg: Config,
) -> Result<RamStore<'a>, Error<twinkv_core::RamError>> {
    Store::open_read_only(a, b, FixedIndex::new(), vec![0u8; 4096], cfg)
}

fn repro_config() -> Config {
    Config::new(0x1551_E011).with_limits(16, 64)
}

/// Every key of `model` reads its value or `Corrupted`; deleted keys read
/// absent or `Corrupted`. Returns the keys that read `Corrupted`.
fn assert_no_silent_loss(
    s: &mut RamStore<'_>,
    model: &Model,
    deleted: &[Vec<u8>],
    what: &str,
) -> usize {
    let mut buf = [0u8; 64];
    let mut corrupted = 0;
    for (k, v) in model {
        match s.get(k, &mut buf) {
            Ok(Some(n)) => assert_eq!(
                &buf[..n],
                &v[..],
                "{what}: {} reads an older value",
                String::from_utf8_lossy(k)
            ),
            Ok(None) => panic!(
                "{what}: acknowledged key {} reads absent",
                String::from_utf8_lossy(k)
            ),
            Err(Error::Corrupted) => corrupted += 1,
            Err(e) => panic!("{what}: get {}: {e:?}", String::from_utf8_lossy(k)),
        }
    }
    for k in deleted {
        match s.get(k, &mut buf) {
            Ok(None) | Err(Error::Corrupted) => {}
            other => panic!(
                "{what}: deleted key {} reads {other:?}",
                String::from_utf8_lossy(k)
            ),
        }
    }
    corrupted
}

/// The read-write path after damage: open (a refusal naming damage is
/// fine), write a new key, reopen: the new key and every acknowledged key
/// (value or `Corrupted`) are there.
fn assert_write_after_damage(
    a: &mut RamRegion<Vec<u8>>,
    b: &mut RamRegion<Vec<u8>>,
    cfg: Config,
    model: &Model,
    deleted: &[Vec<u8>],
) {
    let mut s = match open_rw(a, b, cfg) {
        Ok(s) => s,
        Err(Error::Corrupted | Error::Unrecognised | Error::UnsupportedFormat) => return,
        Err(e) => panic!("read-write open after damage: {e:?}"),
    };
    assert_no_silent_loss(&mut s, model, deleted, "read-write open");
    match s.set(b"other", b"x") {
        Ok(()) => {}
        Err(Error::Corrupted | Error::ReadOnly) => return,
        Err(e) => panic!("write after damage: {e:?}"),
    }
    drop(s);
    let mut s = open_rw(a, b, cfg).expect("reopen after an acknowledged write");
    let mut m = model.clone();
    m.insert(b"other".to_vec(), b"x".to_vec());
    assert_no_silent_loss(&mut s, &m, deleted, "reopen after the write");
}

/// Issue 11, repro 1: 20 keys in a 4 KiB file-like store, `compact`, bit 0 of
/// byte 95 of the active region flipped (inside the first copied record,
/// before the commit's data end): no key may vanish, on the read-only open
/// nor after a write and a reopen.
#[test]
fn repro1_flip_after_compaction_loses_no_key() {
    let (mut a, mut b) = file_like(4096);
    let cfg = repro_config();
    let mut model = Model::new();
    let active = {
        let mut s = open_rw(&mut a, &mut b, cfg).unwrap();
        for i in 1..=20 {
            let (k, v) = (format!("key{i}"), format!("value{i}"));
            s.set(k.as_bytes(), v.as_bytes()).unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        s.compact().unwrap();
        s.stats().active
    };
    let region = match active {
        twinkv_core::RegionId::A => &mut a,
        twinkv_core::RegionId::B => &mut b,
    };
    region.flip_bit(95, 0).unwrap();
    {
        let mut s = match open_ro(&mut a, &mut b, cfg) {
            Ok(s) => Some(s),
            Err(Error::Corrupted | Error::Unrecognised) => None,
            Err(e) => panic!("read-only open: {e:?}"),
        };
        if let Some(s) = s.as_mut() {
            let corrupted = assert_no_silent_loss(s, &model, &[], "read-only open");
            assert!(
                corrupted >= 1,
                "the flipped record's key must read Corrupted"
            );
        }
    }
    assert_write_after_damage(&mut a, &mut b, cfg, &model, &[]);
}

/// Issue 11, repro 2: 41 synced sets in A, B empty, bit 0 of byte 60 of A
/// (the commit slot) flipped. Open must not take it for an interrupted first
/// format: no reformat, and the next write must not lose the 41 keys (the
/// open fails with `Corrupted`, or the keys stay readable).
#[test]
fn repro2_flipped_commit_before_first_switch_does_not_format() {
    let (mut a, mut b) = file_like(4096);
    let cfg = repro_config();
    let mut model = Model::new();
    {
        let mut s = open_rw(&mut a, &mut b, cfg).unwrap();
        for i in 1..=41 {
            let (k, v) = (format!("key{i}"), format!("v{i}"));
            s.set(k.as_bytes(), v.as_bytes()).unwrap();
            s.sync().unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        assert_eq!(s.stats().switches, 0, "B must still be empty");
    }
    use twinkv_core::MappedRegion;
    assert!(b.as_bytes().iter().all(|&x| x == 0xFF));
    assert_eq!(Layout::new(4).commit(), 60);
    a.flip_bit(60, 0).unwrap();
    let before = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
    match open_rw(&mut a, &mut b, cfg) {
        Err(Error::Corrupted | Error::Unrecognised) => {
            assert_eq!(
                (a.as_bytes().to_vec(), b.as_bytes().to_vec()),
                before,
                "a refused open wrote"
            );
        }
        Err(e) => panic!("open: {e:?}"),
        Ok(mut s) => {
            assert_ne!(
                (s.stats().generation, s.len()),
                (1, 0),
                "open formatted a store holding 41 acknowledged keys"
            );
            assert_no_silent_loss(&mut s, &model, &[], "open");
        }
    }
    assert_write_after_damage(&mut a, &mut b, cfg, &model, &[]);
}

/// Issue 11, repro 3: the 512-byte block of the active (file-like) region
/// holding the last records and the last sync marker zeroed. No older value
/// and no deleted key may come back.
#[test]
fn repro3_zeroed_block_with_last_sync_marker_rolls_nothing_back() {
    let (mut a, mut b) = file_like(4096);
    let cfg = repro_config();
    let mut model = Model::new();
    let deleted = vec![b"key04".to_vec()];
    let (active, end) = {
        let mut s = open_rw(&mut a, &mut b, cfg).unwrap();
        for i in 0..30 {
            let (k, v) = (format!("key{i:02}"), format!("first{i}"));
            s.set(k.as_bytes(), v.as_bytes()).unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        s.sync().unwrap();
        for i in 1..4 {
            let (k, v) = (format!("key{i:02}"), format!("second{i}"));
            s.set(k.as_bytes(), v.as_bytes()).unwrap();
            model.insert(k.into_bytes(), v.into_bytes());
        }
        s.remove(b"key04").unwrap();
        model.remove(&b"key04"[..]);
        s.sync().unwrap();
        let st = s.stats();
        assert_eq!(st.switches, 0);
        (st.active, Layout::new(4).data_start() + st.used_bytes)
    };
    let region = match active {
        twinkv_core::RegionId::A => &mut a,
        twinkv_core::RegionId::B => &mut b,
    };
    // The block holding the end of the log (the sync marker) also holds the
    // second values and the delete; the first values lie in earlier blocks.
    let block = (end - 1) / 512 * 512;
    assert!(block > 84, "the first values must lie in an earlier block");
    region.data_mut()[block as usize..block as usize + 512].fill(0);
    {
        match open_ro(&mut a, &mut b, cfg) {
            Ok(mut s) => {
                assert_no_silent_loss(&mut s, &model, &deleted, "read-only open");
            }
            Err(Error::Corrupted | Error::Unrecognised) => {}
            Err(e) => panic!("read-only open: {e:?}"),
        }
    }
    assert_write_after_damage(&mut a, &mut b, cfg, &model, &deleted);
}

/// Issue 11, repro 5 (fuzz `open_image`, seed 2856110531): A (1536 B)
/// erased, B (1024 B) with a valid header of store id 0x0123456789abcdef,
/// generation 4, no commit; a `Config` of store id 0x0123450000000000 with
/// `adopt_store_id`. Open must not format A next to B and fail later: either
/// it refuses now, or every acknowledged write stays reachable.
#[test]
fn repro5_foreign_header_next_to_erased_region_is_not_adopted_then_refused() {
    let geo = |size| Geometry {
        size,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 256,
    };
    let mut a = RamRegion::new(
        vec![0u8; RamRegion::<Vec<u8>>::storage_len_for(&geo(1536))],
        geo(1536),
    )
    .unwrap();
    let mut b = RamRegion::new(
        vec![0u8; RamRegion::<Vec<u8>>::storage_len_for(&geo(1024))],
        geo(1024),
    )
    .unwrap();
    let header = RegionHeader {
        store_id: 0x0123_4567_89ab_cdef,
        generation: 4,
        region_size: 1024,
        erase_unit: 256,
        write_unit: 4,
        read_unit: 1,
        max_key_len: 16,
        max_value_len: 64,
        high_water_bp: 6000,
        max_fill_bp: 9000,
    };
    b.data_mut()[..48].copy_from_slice(&header.encode());
    // As in the fuzz input: one stray byte in B's log area.
    b.data_mut()[118] = 0xFA;
    let cfg = Config::new(0x0123_4500_0000_0000)
        .with_limits(16, 64)
        .with_ratios(6000, 9000)
        .adopting_store_id();
    use twinkv_core::MappedRegion;
    let before = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
    match open_rw(&mut a, &mut b, cfg) {
        Err(Error::Corrupted | Error::Unrecognised | Error::ForeignStore) => {
            assert_eq!(
                (a.as_bytes().to_vec(), b.as_bytes().to_vec()),
                before,
                "a refused open wrote"
            );
            return;
        }
        Err(e) => panic!("open: {e:?}"),
        Ok(mut s) => {
            s.set(b"k0", b"acknowledged").unwrap();
            s.sync().unwrap();
        }
    }
    let mut s =
        open_rw(&mut a, &mut b, cfg).expect("the store that acknowledged a write must open again");
    let mut buf = [0u8; 64];
    let n = s.get(b"k0", &mut buf).unwrap().expect("acknowledged write");
    assert_eq!(&buf[..n], b"acknowledged");
}

/// The harness itself: every lifecycle's undamaged image probes as harmless
/// on both media through both fronts (so a silent verdict comes from the
/// fault, not the oracle).
#[test]
fn harness_self_check_undamaged_is_harmless() {
    for in_order in [true, false] {
        for (life, script) in lifecycles() {
            let t = build(&script, in_order);
            let keys = t.keys();
            for front in Front::BOTH {
                let p = probe(&t.image, &keys, in_order, front);
                let (v, available) = judge_unfaulted(&t, &p);
                let m = medium(in_order, front);
                assert_eq!(v, Verdict::Harmless, "{m} / {life}: {p:?}");
                assert!(available, "{m} / {life}");
            }
        }
    }
}
