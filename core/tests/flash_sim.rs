//! `SimFlash`: the NOR rules it enforces per part, its counters, and every
//! fault it injects (power cut after N bytes or steps, interrupted erase, bit
//! flips, weak cells, ECC mode, injected errors).

use std::collections::BTreeSet;

use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use twinkv_core::testkit::Rng;
use twinkv_core::{Fault, Reprogram, SimStats, Wear};
use twinkv_core::{SimError, SimFlash, TearMode};

type F<const W: usize> = SimFlash<Vec<u8>, W, 256>;

fn flash<const W: usize>(size: u32) -> F<W> {
    F::<W>::new(vec![0; F::<W>::storage_len(size)], size).unwrap()
}

/// Bytes that are never 0xFF and never 0x00.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    (0..len).map(|_| (r.below(254) + 1) as u8).collect()
}

fn read_vec<const W: usize>(f: &mut F<W>, off: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    f.read(off, &mut b).unwrap();
    b
}

const MODES: [TearMode; 3] = [TearMode::Prefix, TearMode::Subset, TearMode::RandomBits];

#[test]
fn construction_and_storage_len() {
    // data + one counter per write unit + 4 bytes of wear per erase unit.
    assert_eq!(F::<4>::storage_len(1024), 1024 + 256 + 16);
    assert_eq!(
        F::<4>::storage_len(1000),
        0,
        "not a multiple of the erase unit"
    );
    assert_eq!(
        F::<4>::new(vec![0; 10], 1024).unwrap_err(),
        SimError::StorageLength {
            expected: 1296,
            actual: 10
        }
    );
    assert!(F::<4>::new(vec![], 1000).is_err());
    // Works on arrays and borrowed slices (no allocation needed).
    const LEN: usize = SimFlash::<[u8; 0], 8, 256>::storage_len(512);
    let mut buf = [0u8; LEN];
    let mut f = SimFlash::<&mut [u8], 8, 256>::new(&mut buf[..], 512).unwrap();
    assert_eq!(f.capacity(), 512);
    assert_eq!(read_vec_any(&mut f, 0, 4), [0xFF; 4]);
    // with_contents keeps an image.
    let mut img = vec![0xFFu8; F::<4>::storage_len(512)];
    img[..4].copy_from_slice(b"twKV");
    let mut f = F::<4>::with_contents(img, 512).unwrap();
    assert_eq!(read_vec(&mut f, 0, 5), b"twKV\xFF");
    assert_eq!(f.write(0, &[0; 4]), Err(SimError::NotErased { offset: 0 }));
    assert!(format!("{f:?}").contains("write_size: 4"));
}

fn read_vec_any<Fl: ReadNorFlash>(f: &mut Fl, off: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    f.read(off, &mut b).unwrap();
    b
}

#[test]
fn alignment_and_bounds_per_unit() {
    type F4 = SimFlash<Vec<u8>, 8, 256, 4>;
    let mut f = F4::new(vec![0; F4::storage_len(512)], 512).unwrap();
    let mut b = [0u8; 4];
    assert_eq!(f.read(2, &mut b), Err(SimError::NotAligned));
    assert_eq!(f.read(0, &mut b[..3]), Err(SimError::NotAligned));
    assert_eq!(f.read(512, &mut b), Err(SimError::OutOfBounds));
    f.read(508, &mut b).unwrap();
    assert_eq!(f.write(4, &[0; 8]), Err(SimError::NotAligned));
    assert_eq!(f.write(0, &[0; 4]), Err(SimError::NotAligned));
    assert_eq!(f.write(512, &[0; 8]), Err(SimError::OutOfBounds));
    assert_eq!(f.erase(0, 128), Err(SimError::NotAligned));
    assert_eq!(f.erase(256, 0), Err(SimError::OutOfBounds));
    assert_eq!(f.erase(0, 768), Err(SimError::OutOfBounds));
    assert_eq!(SimError::NotAligned.kind(), NorFlashErrorKind::NotAligned);
    assert_eq!(SimError::OutOfBounds.kind(), NorFlashErrorKind::OutOfBounds);
    assert_eq!(SimError::PowerLost.kind(), NorFlashErrorKind::Other);
    assert_eq!(
        f.stats(),
        SimStats {
            reads: 1,
            bytes_read: 4,
            ..SimStats::default()
        }
    );
}

#[test]
fn each_write_unit_once_between_erases() {
    let mut f = flash::<4>(512);
    f.write(0, &[0xF0, 0xFF, 0xFF, 0xFF]).unwrap();
    // Even 1 → 0 only, even all-0xFF: the unit was programmed.
    assert_eq!(
        f.write(0, &[0x00; 4]),
        Err(SimError::AlreadyProgrammed { offset: 0 })
    );
    f.write(4, &[0xFF; 4]).unwrap();
    assert_eq!(
        f.write(4, &[0xFF; 4]),
        Err(SimError::AlreadyProgrammed { offset: 4 })
    );
    assert_eq!(
        f.write(0, &[0; 8]),
        Err(SimError::AlreadyProgrammed { offset: 0 })
    );
    // A flipped bit in an unprogrammed unit: the cells are not erased.
    f.flip_bit(9, 3).unwrap();
    assert_eq!(f.write(8, &[0; 4]), Err(SimError::NotErased { offset: 9 }));
    assert_eq!(read_vec(&mut f, 0, 4), [0xF0, 0xFF, 0xFF, 0xFF]);
    f.erase(0, 256).unwrap();
    f.write(0, &[0; 12]).unwrap();
    assert_eq!(read_vec(&mut f, 0, 13), [&[0u8; 12][..], &[0xFF]].concat());
}

#[test]
fn multiwrite_part_ands_bits() {
    let mut f = flash::<4>(512);
    f.set_reprogram(Reprogram::And);
    f.write(0, &[0xF0, 0xFF, 0x0F, 0xFF]).unwrap();
    // Bits only go 1 → 0: writing 1 over 0 leaves 0.
    f.write(0, &[0xFF, 0x3C, 0xFF, 0xFF]).unwrap();
    f.write(0, &[0xAF, 0xFF, 0xFF, 0xFF]).unwrap();
    assert_eq!(read_vec(&mut f, 0, 4), [0xA0, 0x3C, 0x0F, 0xFF]);
    assert_eq!(f.stats().programs, 3);
    assert_eq!(f.stats().bytes_programmed, 12);
    // A cut during a rewrite tears only that unit, bits old or old & new.
    f.cut_after_bytes(4, TearMode::RandomBits, 9);
    assert_eq!(f.write(0, &[0; 8]), Err(SimError::PowerLost));
    f.restore_power();
    let after = read_vec(&mut f, 0, 8);
    assert_eq!(after[..4], [0; 4]);
    for (&got, old) in after[4..].iter().zip([0xFFu8; 4]) {
        assert_eq!(got & !old, 0, "only clears bits");
    }
    assert!(matches!(
        f.last_fault(),
        Some(Fault::TornProgram { offset: 4, .. })
    ));
}

#[test]
fn counters_and_wear_are_exact() {
    let mut f = flash::<8>(1024);
    f.write(0, &[0; 16]).unwrap();
    f.write(256, &[0; 8]).unwrap();
    let mut b = [0u8; 10];
    f.read(3, &mut b).unwrap();
    f.read(0, &mut b[..1]).unwrap();
    f.erase(0, 512).unwrap();
    f.erase(0, 256).unwrap();
    let _ = f.write(1, &[0; 8]); // refused: not counted
    assert_eq!(
        f.stats(),
        SimStats {
            reads: 2,
            bytes_read: 11,
            programs: 2,
            bytes_programmed: 24,
            erases: 3
        }
    );
    assert_eq!(
        (0..4).map(|u| f.erase_count(u)).collect::<Vec<_>>(),
        [2, 1, 0, 0]
    );
    assert_eq!(f.erase_units(), 4);
    assert_eq!(
        f.wear(|u| u < 3),
        Wear {
            units: 3,
            never_erased: 1,
            min: 0,
            max: 2,
            total: 3
        }
    );
    assert_eq!(f.steps_taken(), 3 + 3);
    f.reset_stats();
    f.reset_steps();
    assert_eq!(f.stats(), SimStats::default());
    assert_eq!(f.steps_taken(), 0);
    assert_eq!(f.erase_count(0), 2, "wear survives reset_stats");
}

/// A cut after `n` bytes of a write of three units: the units before byte
/// `n` are complete, the one holding byte `n` is torn, the rest untouched.
fn cut_after_bytes<const W: usize>() {
    for mode in MODES {
        for n in 0..3 * W as u64 {
            let mut f = flash::<W>(512);
            f.write(0, &vec![0x11; W]).unwrap();
            let data = pattern(3 * W, n);
            f.cut_after_bytes(n, mode, n ^ 0xABC);
            assert_eq!(f.write(W as u32, &data), Err(SimError::PowerLost));
            assert!(f.power_lost());
            let mut b = [0u8; 1];
            assert_eq!(f.read(0, &mut b), Err(SimError::PowerLost));
            assert_eq!(f.erase(0, 256), Err(SimError::PowerLost));
            assert_eq!(f.write(256, &vec![0; W]), Err(SimError::PowerLost));
            f.restore_power();
            let got = read_vec(&mut f, 0, 4 * W);
            let torn = n as usize / W;
            assert_eq!(got[..W], vec![0x11; W][..], "earlier write intact");
            assert_eq!(got[W..W + torn * W], data[..torn * W], "W={W} n={n}");
            let unit = &got[W + torn * W..2 * W + torn * W];
            let new = &data[torn * W..(torn + 1) * W];
            for (i, (&g, &d)) in unit.iter().zip(new).enumerate() {
                match mode {
                    TearMode::Prefix | TearMode::Subset => {
                        assert!(g == 0xFF || g == d, "{mode:?} byte {i}")
                    }
                    TearMode::RandomBits => {
                        assert_eq!(g | d, g, "only bits of the new value clear")
                    }
                }
            }
            assert!(
                got[2 * W + torn * W..].iter().all(|&b| b == 0xFF),
                "later units untouched"
            );
            assert_eq!(
                f.last_fault(),
                Some(Fault::TornProgram {
                    offset: (W * (1 + torn)) as u32,
                    mode
                })
            );
            assert_eq!(
                f.stats().bytes_programmed,
                W as u64,
                "the cut write does not count"
            );
        }
    }
}

#[test]
fn power_cut_after_n_bytes() {
    cut_after_bytes::<1>();
    cut_after_bytes::<2>();
    cut_after_bytes::<4>();
    cut_after_bytes::<8>();
    cut_after_bytes::<16>();
    cut_after_bytes::<32>();
}

#[test]
fn byte_fuel_spans_calls_and_ignores_erases() {
    let mut f = flash::<4>(1024);
    f.cut_after_bytes(10, TearMode::Prefix, 1);
    f.write(0, &[0; 4]).unwrap();
    f.erase(512, 1024).unwrap();
    f.write(4, &[0; 4]).unwrap();
    assert!(f.cut_pending());
    assert_eq!(f.write(8, &[0; 8]), Err(SimError::PowerLost));
    assert!(matches!(
        f.last_fault(),
        Some(Fault::TornProgram { offset: 8, .. })
    ));
    assert!(!f.cut_pending());
}

#[test]
fn interrupted_erase_leaves_a_partly_erased_unit() {
    let mut seen_all_ff = false;
    let mut seen_mixed = false;
    for seed in 0..40 {
        let mut f = flash::<4>(1024);
        let data = pattern(1024, seed);
        f.write(0, &data).unwrap();
        f.interrupt_erase_after(1, seed);
        f.write(1020, &[]).unwrap(); // writes do not count
        assert_eq!(f.erase(0, 768), Err(SimError::PowerLost));
        f.restore_power();
        let got = read_vec(&mut f, 0, 1024);
        assert!(got[..256].iter().all(|&b| b == 0xFF), "first unit erased");
        let torn = &got[256..512];
        for (&g, &d) in torn.iter().zip(&data[256..512]) {
            assert!(g == 0xFF || g == d);
        }
        if torn.iter().all(|&b| b == 0xFF) {
            seen_all_ff = true;
        } else {
            seen_mixed = true;
        }
        assert_eq!(got[512..], data[512..], "third unit not reached");
        assert!(matches!(
            f.last_fault(),
            Some(Fault::TornErase { offset: 256, .. })
        ));
        // Not reliably erased: writes refused until erased again.
        assert_eq!(
            f.write(260, &[0; 4]),
            Err(SimError::AlreadyProgrammed { offset: 260 })
        );
        f.erase(256, 512).unwrap();
        f.write(260, &[0; 4]).unwrap();
        assert_eq!(
            f.erase_count(1),
            2,
            "the interrupted erase wears the unit too"
        );
    }
    assert!(seen_all_ff && seen_mixed);
}

#[test]
fn step_fuel_counts_write_units_and_erase_units() {
    let mut f = flash::<4>(1024);
    f.cut_power_after(5, TearMode::Subset, 3);
    f.write(0, &[0; 8]).unwrap(); // 2 steps
    f.erase(256, 768).unwrap(); // 2 steps
    assert_eq!(f.steps_taken(), 4);
    assert_eq!(f.write(8, &[0; 8]), Err(SimError::PowerLost)); // 1 completes
    f.restore_power();
    assert_eq!(read_vec(&mut f, 8, 4), [0; 4]);
    assert_eq!(f.steps_taken(), 5);
    // An immediate cut tears nothing.
    f.cut_power();
    assert_eq!(f.last_fault(), Some(Fault::PowerCut));
    assert_eq!(f.write(512, &[0; 4]), Err(SimError::PowerLost));
    f.restore_power();
    assert_eq!(read_vec(&mut f, 512, 4), [0xFF; 4]);
    // A cancelled cut never fires.
    f.cut_power_after(0, TearMode::Prefix, 0);
    f.cancel_cut();
    f.write(512, &[0; 4]).unwrap();
}

#[test]
fn random_bit_flip_in_a_range() {
    let mut offsets = BTreeSet::new();
    for seed in 0..200 {
        let mut f = flash::<4>(512);
        let (off, bit) = f.flip_random_bit(100..110, seed).unwrap();
        assert!((100..110).contains(&off) && bit < 8);
        let got = read_vec(&mut f, 0, 512);
        for (i, &b) in got.iter().enumerate() {
            let want = if i as u32 == off {
                0xFF ^ (1 << bit)
            } else {
                0xFF
            };
            assert_eq!(b, want);
        }
        assert_eq!(f.last_fault(), Some(Fault::BitFlip { offset: off, bit }));
        offsets.insert(off);
        // Deterministic per seed.
        let mut g = flash::<4>(512);
        assert_eq!(g.flip_random_bit(100..110, seed).unwrap(), (off, bit));
    }
    assert_eq!(offsets.len(), 10, "every byte of the range gets hit");
    let mut f = flash::<4>(512);
    assert_eq!(f.flip_random_bit(10..10, 0), Err(SimError::OutOfBounds));
    assert_eq!(f.flip_random_bit(500..513, 0), Err(SimError::OutOfBounds));
    assert_eq!(f.flip_bit(0, 8), Err(SimError::OutOfBounds));
    // Flips work while power is lost.
    f.cut_power();
    f.flip_bit(0, 0).unwrap();
    f.restore_power();
    assert_eq!(read_vec(&mut f, 0, 1), [0xFE]);
}

#[test]
fn weak_torn_unit_reads_differently_until_erased() {
    let mut varied = 0;
    for seed in 0..20u64 {
        let mut f = flash::<16>(512);
        f.set_weak_cells(Some(seed));
        let data = pattern(32, seed);
        f.cut_after_bytes(16, TearMode::RandomBits, seed);
        assert_eq!(f.write(0, &data), Err(SimError::PowerLost));
        f.restore_power();
        if f.weak_units() == 0 {
            // No new bit reached the unit: it counts as unprogrammed.
            assert!(f.as_bytes()[16..32].iter().all(|&b| b == 0xFF));
            continue;
        }
        let new = &data[16..32];
        let mut readings = BTreeSet::new();
        for _ in 0..64 {
            let got = read_vec(&mut f, 16, 16);
            assert!(got.iter().any(|&b| b != 0xFF), "never reads fully erased");
            for (&g, &d) in got.iter().zip(new) {
                assert_eq!(g | !d, 0xFF | !d);
                assert_eq!(g & d, d, "bits the write left at 1 stay 1");
            }
            readings.insert(got);
        }
        // A read overlapping the weak unit varies only there.
        let part = read_vec(&mut f, 8, 12);
        assert_eq!(part[..8], data[8..16]);
        if readings.len() > 1 {
            varied += 1;
        }
        // Still refuses a rewrite, and an erase makes it stable.
        assert!(f.write(16, &[0; 16]).is_err());
        f.erase(0, 256).unwrap();
        assert_eq!(f.weak_units(), 0);
        assert_eq!(read_vec(&mut f, 0, 32), [0xFF; 32]);
    }
    assert!(varied >= 15, "{varied}");
}

#[test]
fn weak_half_erased_unit_reads_anything_until_erased() {
    let mut f = flash::<4>(1024);
    f.set_weak_cells(Some(5));
    let data = pattern(1024, 5);
    f.write(0, &data).unwrap();
    f.interrupt_erase_after(0, 5);
    assert_eq!(f.erase(256, 512), Err(SimError::PowerLost));
    f.restore_power();
    assert_eq!(f.weak_units(), 1);
    let mut readings = BTreeSet::new();
    let mut all_ff = 0;
    for _ in 0..100 {
        let got = read_vec(&mut f, 256, 256);
        all_ff += usize::from(got.iter().all(|&b| b == 0xFF));
        readings.insert(got);
        assert_eq!(
            read_vec(&mut f, 0, 256),
            data[..256],
            "neighbours are stable"
        );
    }
    assert!(readings.len() > 50, "{}", readings.len());
    assert!(
        (5..60).contains(&all_ff),
        "all 0xFF about one read in four: {all_ff}"
    );
    f.erase(256, 512).unwrap();
    assert_eq!(f.weak_units(), 0);
    assert_eq!(read_vec(&mut f, 256, 256), vec![0xFF; 256]);
    // Without weak cells the same fault reads stable.
    let mut g = flash::<4>(1024);
    g.write(0, &data).unwrap();
    g.interrupt_erase_after(0, 5);
    let _ = g.erase(256, 512);
    g.restore_power();
    let first = read_vec(&mut g, 256, 256);
    assert_eq!(read_vec(&mut g, 256, 256), first);
}

#[test]
fn weak_units_are_bounded_and_can_be_turned_off() {
    let mut f = flash::<4>(4096);
    f.set_weak_cells(Some(1));
    for i in 0..12u32 {
        f.cut_after_bytes(0, TearMode::RandomBits, u64::from(i) + 100);
        let _ = f.write(i * 256, &[0; 4]);
        f.restore_power();
    }
    assert!(f.weak_units() <= twinkv_core::WEAK_UNITS);
    assert!(f.weak_units() > 0);
    f.set_weak_cells(None);
    assert_eq!(f.weak_units(), 0);
}

#[test]
fn injected_errors_change_nothing() {
    let mut f = flash::<4>(1024);
    f.fail_next_write();
    // An invalid write is refused for its own reason and keeps the injection.
    assert_eq!(f.write(1, &[0; 4]), Err(SimError::NotAligned));
    assert_eq!(f.write(0, &[0; 4]), Err(SimError::Injected));
    assert_eq!(f.last_fault(), Some(Fault::InjectedProgram { offset: 0 }));
    assert_eq!(read_vec(&mut f, 0, 4), [0xFF; 4]);
    f.write(0, &[0; 4]).unwrap();
    f.fail_next_erase();
    assert_eq!(f.erase(0, 256), Err(SimError::Injected));
    assert_eq!(read_vec(&mut f, 0, 4), [0; 4]);
    assert_eq!(f.erase_count(0), 0);
    f.erase(0, 256).unwrap();
    assert_eq!(f.stats().programs, 1);
    assert!(SimError::Injected.to_string().contains("injected"));
}

// ------------------------------------------------------------------ ECC mode

/// ECC mode: a write unit torn by a cut fails every read that touches it
/// (at write-unit granularity) until erased; neighbours read normally.
fn ecc_torn_program<const W: usize>() {
    let mut torn = 0;
    for seed in 0..20u64 {
        let mut f = flash::<W>(512);
        f.set_ecc(true);
        assert!(f.ecc());
        let data = pattern(3 * W, seed);
        f.cut_after_bytes(W as u64 + 1, MODES[seed as usize % 3], seed);
        assert_eq!(f.write(0, &data), Err(SimError::PowerLost));
        f.restore_power();
        let w = W as u32;
        if f.weak_units() == 0 {
            // No new bit reached the unit: unprogrammed, reads erased.
            assert_eq!(read_vec(&mut f, w, W), vec![0xFF; W]);
            continue;
        }
        torn += 1;
        let mut b = vec![0; W];
        assert_eq!(f.read(w, &mut b), Err(SimError::Ecc { offset: w }));
        // Any read touching it fails, with the first torn unit's offset.
        let mut one = [0u8; 1];
        assert_eq!(
            f.read(w + w - 1, &mut one),
            Err(SimError::Ecc { offset: w })
        );
        let mut all = vec![0; 3 * W];
        assert_eq!(f.read(0, &mut all), Err(SimError::Ecc { offset: w }));
        assert!(SimError::Ecc { offset: w }.is_ecc() && !SimError::PowerLost.is_ecc());
        assert_eq!(SimError::Ecc { offset: w }.kind(), NorFlashErrorKind::Other);
        // The unit before it completed and reads; the one after is erased.
        assert_eq!(read_vec(&mut f, 0, W), data[..W]);
        assert_eq!(read_vec(&mut f, 2 * w, W), vec![0xFF; W]);
        assert!(f.ecc_errors() >= 3);
        // An erase clears it.
        f.erase(0, 256).unwrap();
        assert_eq!(f.weak_units(), 0);
        assert_eq!(read_vec(&mut f, 0, 3 * W), vec![0xFF; 3 * W]);
    }
    assert!(torn >= 15, "W={W}: {torn}");
}

#[test]
fn ecc_torn_write_unit_fails_reads_until_erased() {
    ecc_torn_program::<8>();
    ecc_torn_program::<16>();
    ecc_torn_program::<32>();
}

#[test]
fn ecc_interrupted_erase_fails_reads_of_the_whole_unit() {
    let mut f = flash::<32>(1024);
    f.set_ecc(true);
    let data = pattern(1024, 9);
    f.write(0, &data).unwrap();
    f.interrupt_erase_after(1, 9);
    assert_eq!(f.erase(0, 768), Err(SimError::PowerLost));
    f.restore_power();
    // Unit 0 was erased, unit 1 is half-erased, unit 2 untouched.
    assert_eq!(read_vec(&mut f, 0, 256), vec![0xFF; 256]);
    for at in (256..512).step_by(32) {
        let mut b = [0u8; 32];
        assert_eq!(f.read(at, &mut b), Err(SimError::Ecc { offset: at }));
    }
    assert_eq!(read_vec(&mut f, 512, 512), data[512..]);
    f.erase(256, 512).unwrap();
    assert_eq!(read_vec(&mut f, 256, 256), vec![0xFF; 256]);
}

#[test]
fn ecc_with_weak_cells_fails_some_reads_and_reads_noise_otherwise() {
    let mut f = flash::<16>(512);
    f.set_ecc(true);
    f.set_weak_cells(Some(3));
    let data = pattern(32, 3);
    let mut seed = 3;
    // A cut whose tear reaches the second unit.
    loop {
        f.cut_after_bytes(16, TearMode::RandomBits, seed);
        assert_eq!(f.write(0, &data), Err(SimError::PowerLost));
        f.restore_power();
        if f.weak_units() > 0 {
            break;
        }
        f.erase(0, 256).unwrap();
        seed += 1;
    }
    let (mut failed, mut read) = (0, 0);
    for _ in 0..200 {
        let mut b = [0u8; 16];
        match f.read(16, &mut b) {
            Ok(()) => {
                read += 1;
                assert!(b.iter().any(|&x| x != 0xFF));
            }
            Err(e) => {
                assert_eq!(e, SimError::Ecc { offset: 16 });
                failed += 1;
            }
        }
    }
    assert!(
        (50..150).contains(&failed),
        "{failed} of 200 failed, {read} read"
    );
}

#[test]
fn ecc_off_reads_torn_units_and_corrupt_ecc_marks_damage() {
    // Off (the default): a torn unit reads its bits, as before.
    let mut f = flash::<8>(512);
    assert!(!f.ecc());
    f.cut_after_bytes(4, TearMode::RandomBits, 1);
    assert_eq!(f.write(0, &[0; 8]), Err(SimError::PowerLost));
    f.restore_power();
    let _ = read_vec(&mut f, 0, 8);
    assert_eq!(f.ecc_errors(), 0);
    // Damage to the ECC of a unit whose write succeeded.
    let mut g = flash::<8>(512);
    g.set_ecc(true);
    g.write(0, &[1; 16]).unwrap();
    g.corrupt_ecc(9).unwrap();
    assert_eq!(read_vec(&mut g, 0, 8), [1; 8]);
    let mut b = [0u8; 8];
    assert_eq!(g.read(8, &mut b), Err(SimError::Ecc { offset: 8 }));
    assert_eq!(g.corrupt_ecc(512), Err(SimError::OutOfBounds));
    // Turning ECC mode off forgets it.
    g.set_ecc(false);
    assert_eq!(read_vec(&mut g, 8, 8), [1; 8]);
    assert!(SimError::Ecc { offset: 8 }.to_string().contains("ECC"));
}
