//! The damage harness on the NOR flash simulator through the flash adapter
//! (one `SimFlash` per region, `SharedFlashRegion::whole`), for W = 1, 4, 8,
//! 16 and 32: the same lifecycles, faults and oracle as `damage_harness.rs`
//! (see `twinkv_core::testkit::damage`). NOR persists in order, so E1 and E2 apply, E3 never.
//!
//! Quick mode in `cargo test --features flash-sim`; every byte with
//! `-- --ignored` (`.ci/stages/60-torture.sh`).

use std::cell::RefCell;

use twinkv_core::testkit::asynch::Front;
use twinkv_core::testkit::damage::*;
use twinkv_core::testkit::flash::{config, open_two, open_two_as, sim, FlashStore, Sim};
use twinkv_core::testkit::Write;
use twinkv_core::Stats;

/// Region size: 1 KiB, 2 KiB at W = 32, where a record takes 32 bytes and
/// 1 KiB holds the lifecycles' 22 live keys only just (every switch then
/// fills the region again and a fault's damage record tips it over the fill
/// limit: `Full`, not a loss, but no write either).
const fn size(w: usize) -> u32 {
    if w >= 32 {
        2048
    } else {
        1024
    }
}
/// Byte faults sampled per (W, lifecycle) in quick mode.
const QUICK_SAMPLE: usize = 120;

struct Build<'a, const W: usize> {
    s: FlashStore<'a, W>,
    a: &'a RefCell<Sim<W>>,
    b: &'a RefCell<Sim<W>>,
}

impl<const W: usize> Builder for Build<'_, W> {
    fn run(&mut self, step: &Write) {
        let r = step.run(&mut self.s);
        r.unwrap_or_else(|e| panic!("building the store (W = {W}): {step:?}: {e:?}"));
    }
    fn stats(&mut self) -> Stats {
        self.s.stats()
    }
    fn image(&mut self) -> Image {
        [
            self.a.borrow().as_bytes().to_vec(),
            self.b.borrow().as_bytes().to_vec(),
        ]
    }
}

fn build<const W: usize>(script: &[Entry]) -> Trace {
    let a = RefCell::new(sim::<W>(size(W)));
    let b = RefCell::new(sim::<W>(size(W)));
    let s = open_two(&a, &b, config()).expect("fresh store");
    let mut bld = Build { s, a: &a, b: &b };
    play(&mut bld, script, W as u32, 256, true, false, false)
}

fn flash_with<const W: usize>(bytes: &[u8]) -> RefCell<Sim<W>> {
    let mut buf = vec![0u8; Sim::<W>::storage_len(size(W))];
    buf[..bytes.len()].copy_from_slice(bytes);
    RefCell::new(Sim::<W>::with_contents(buf, size(W)).unwrap())
}

fn image<const W: usize>(a: &RefCell<Sim<W>>, b: &RefCell<Sim<W>>) -> Image {
    [
        a.borrow().as_bytes().to_vec(),
        b.borrow().as_bytes().to_vec(),
    ]
}

/// The probe, every open through `front`.
fn probe<const W: usize>(img: &Image, keys: &[Vec<u8>], front: Front) -> Probe {
    guarded(|| {
        let a = flash_with::<W>(&img[0]);
        let b = flash_with::<W>(&img[1]);
        twinkv_core::testkit::damage::probe!(
            keys: keys,
            empty: is_empty(img),
            changed: image(&a, &b) != *img,
            open_ro: open_two_as(front, true, &a, &b, config()),
            open_rw: open_two_as(front, false, &a, &b, config()),
            read: core_opened,
            write: core_write_phase,
            refusal: core_refusal,
        )
    })
}

/// The harness at write unit `W`, every probe through `front` (the stores
/// are built by the blocking one: both write the same bytes, `cancel.rs`
/// checks).
fn run_w<const W: usize>(table: &mut Table, long: bool, front: Front) {
    let medium = match front {
        Front::Blocking => format!("nor W={W}"),
        Front::Async => format!("nor W={W} async"),
    };
    for (i, (life, script)) in lifecycles().into_iter().enumerate() {
        let t = build::<W>(&script);
        let keys = t.keys();
        let seed = 0xF1A5_0000 + (W as u64) * 100 + i as u64;
        let faults = faults_for(&t, long, QUICK_SAMPLE, seed, false);
        sweep(table, &medium, life, &t, &faults, |img| {
            probe::<W>(img, &keys, front)
        });
    }
}

fn run(long: bool, front: Front) -> Table {
    let mut table = Table::default();
    run_w::<1>(&mut table, long, front);
    run_w::<4>(&mut table, long, front);
    run_w::<8>(&mut table, long, front);
    run_w::<16>(&mut table, long, front);
    run_w::<32>(&mut table, long, front);
    table
}

#[test]
fn damage_harness_flash_quick() {
    timed(
        "damage harness, SimFlash through the flash adapter, quick sample",
        false,
        |long| run(long, Front::Blocking),
    );
}

/// The quick sample probed through the async store, each flash an
/// `AsyncFlashRegion` (blocking reads, async writes: `SplitFlash`).
#[test]
fn damage_harness_flash_quick_through_the_async_store() {
    timed(
        "damage harness, SimFlash through the async flash adapter, quick sample",
        false,
        |long| run(long, Front::Async),
    );
}

#[test]
#[ignore = "long mode: every byte of both regions (.ci/stages/60-torture.sh)"]
fn damage_harness_flash_exhaustive() {
    timed(
        "damage harness, SimFlash through the flash adapter, exhaustive",
        true,
        |long| run(long, Front::Blocking),
    );
}

#[test]
#[ignore = "long mode: every byte of both regions (.ci/stages/60-torture.sh)"]
fn damage_harness_flash_exhaustive_through_the_async_store_long() {
    timed(
        "damage harness, SimFlash through the async flash adapter, exhaustive",
        true,
        |long| run(long, Front::Async),
    );
}

/// The harness itself: undamaged images probe as harmless at every W.
#[test]
fn harness_self_check_undamaged_is_harmless_on_flash() {
    fn check<const W: usize>() {
        for (life, script) in lifecycles() {
            let t = build::<W>(&script);
            for front in Front::BOTH {
                let p = probe::<W>(&t.image, &t.keys(), front);
                let (v, available) = judge_unfaulted(&t, &p);
                assert_eq!(v, Verdict::Harmless, "{front:?} W = {W} / {life}: {p:?}");
                assert!(available, "{front:?} W = {W} / {life}");
            }
        }
    }
    check::<1>();
    check::<4>();
    check::<8>();
    check::<16>();
    check::<32>();
}
