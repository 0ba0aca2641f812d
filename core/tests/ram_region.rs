//! Tests of `RamRegion`: every NOR rule it enforces, its statistics and its
//! fault injection (power cuts, torn programs and erases, bit flips, injected
//! errors), plus a model-based property test.

use proptest::prelude::*;
use twinkv_core::{
    Fault, Geometry, MappedRegion, RamError, RamRegion, RamStats, Region, TearMode, WRITE_UNITS,
};

type Ram = RamRegion<Vec<u8>>;

const MODES: [TearMode; 3] = [TearMode::Prefix, TearMode::Subset, TearMode::RandomBits];

fn geom(size: u32, write_unit: u32, erase_unit: u32) -> Geometry {
    Geometry {
        size,
        read_unit: 1,
        write_unit,
        erase_unit,
    }
}

fn ram(size: u32, write_unit: u32, erase_unit: u32) -> Ram {
    let g = geom(size, write_unit, erase_unit);
    let len = Ram::storage_len_for(&g);
    // Garbage in the buffer must not matter to `new`.
    RamRegion::new(vec![0x5A; len], g).unwrap()
}

/// Test-side pseudo-random bytes that are never 0xFF (so "new" and "old"
/// bytes are always distinguishable).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            u8::try_from(x % 255).unwrap()
        })
        .collect()
}

fn read_all(r: &mut Ram) -> Vec<u8> {
    let mut out = vec![0; r.geometry().size as usize];
    r.read(0, &mut out).unwrap();
    out
}

fn assert_power_lost(r: &mut Ram) {
    assert!(r.power_lost());
    let mut b = [0u8; 1];
    let w = r.geometry().write_unit as usize;
    let e = r.geometry().erase_unit;
    assert_eq!(r.read(0, &mut b), Err(RamError::PowerLost));
    assert_eq!(r.program(0, &vec![0; w]), Err(RamError::PowerLost));
    assert_eq!(r.erase(0, e), Err(RamError::PowerLost));
    assert_eq!(r.sync(), Err(RamError::PowerLost));
    // Still lost: the failed calls above changed nothing.
    assert!(r.power_lost());
}

// ---------------------------------------------------------------- layout

#[test]
fn storage_len_matches_layout() {
    const LEN: usize = RamRegion::<&mut [u8]>::storage_len(1024, 4, 256);
    assert_eq!(LEN, 1024 + 256 + 4 * 4);
    assert_eq!(Ram::storage_len(64, 1, 64), 64 + 64 + 4);
    assert_eq!(Ram::storage_len(4096, 32, 4096), 4096 + 128 + 4);
    assert_eq!(Ram::storage_len_for(&geom(512, 8, 128)), 512 + 64 + 16);
    // Invalid geometries give 0.
    assert_eq!(Ram::storage_len(0, 4, 256), 0);
    assert_eq!(Ram::storage_len(1024, 3, 256), 0);
    assert_eq!(Ram::storage_len(1024, 0, 256), 0);
    assert_eq!(Ram::storage_len(1024, 4, 0), 0);
    assert_eq!(Ram::storage_len(1000, 4, 256), 0);
    assert_eq!(Ram::storage_len(1024, 32, 16), 0);
    assert_eq!(
        Ram::storage_len_for(&Geometry {
            read_unit: 0,
            ..geom(1024, 4, 256)
        }),
        0
    );
}

#[test]
fn works_on_borrowed_and_array_buffers() {
    const LEN: usize = RamRegion::<[u8; 0]>::storage_len(256, 4, 64);
    let mut buf = [0u8; LEN];
    {
        let mut r = RamRegion::new(&mut buf[..], geom(256, 4, 64)).unwrap();
        r.program(8, &[1, 2, 3, 4]).unwrap();
        r.erase(64, 128).unwrap();
    }
    assert_eq!(&buf[8..12], &[1, 2, 3, 4]);
    let mut r = RamRegion::new([0u8; LEN], geom(256, 4, 64)).unwrap();
    r.program(0, &[9; 4]).unwrap();
    assert_eq!(&r.as_bytes()[..5], &[9, 9, 9, 9, 0xFF]);
}

#[test]
fn constructor_rejects_bad_geometry_and_length() {
    let g = geom(1024, 4, 256);
    let len = Ram::storage_len_for(&g);
    assert_eq!(
        Ram::new(vec![0; len], geom(1000, 4, 256)).unwrap_err(),
        RamError::InvalidGeometry
    );
    assert_eq!(
        Ram::new(vec![0; len], geom(1024, 5, 256)).unwrap_err(),
        RamError::InvalidGeometry
    );
    assert_eq!(
        Ram::new(vec![0; len - 1], g).unwrap_err(),
        RamError::StorageLength {
            expected: len,
            actual: len - 1
        }
    );
    assert_eq!(
        Ram::with_contents(vec![0; len + 1], g).unwrap_err(),
        RamError::StorageLength {
            expected: len,
            actual: len + 1
        }
    );
}

#[test]
fn buffer_layout_is_documented_one() {
    let mut r = ram(512, 4, 128);
    r.program(8, &[0; 8]).unwrap(); // units 2 and 3
    r.erase(128, 384).unwrap(); // erase units 1 and 2
    r.erase(256, 384).unwrap(); // erase unit 2 again
    let buf = r.into_inner();
    let (data, rest) = buf.split_at(512);
    let (counts, wear) = rest.split_at(128);
    assert_eq!(&data[..8], &[0xFF; 8]);
    assert_eq!(&data[8..16], &[0; 8]);
    assert_eq!(&counts[..5], &[0, 0, 1, 1, 0]);
    assert_eq!(wear.len(), 16);
    let counts_le: Vec<u32> = wear
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(counts_le, [0, 1, 2, 0]);
}

// ---------------------------------------------------------------- rules

#[test]
fn new_region_reads_erased() {
    for &w in &WRITE_UNITS {
        let mut r = ram(1024, w, 256);
        assert!(r.as_bytes().iter().all(|&b| b == 0xFF));
        assert_eq!(r.as_bytes().len(), 1024);
        assert!(read_all(&mut r).iter().all(|&b| b == 0xFF));
        assert!(r.persists_in_order());
        assert_eq!(r.geometry(), geom(1024, w, 256));
        assert_eq!(r.erase_units(), 4);
        assert_eq!(r.erase_counts().collect::<Vec<_>>(), [0, 0, 0, 0]);
        assert_eq!(r.program_count(0), Some(0));
        assert_eq!(r.program_count(1024), None);
        assert_eq!(
            r.stats(),
            RamStats {
                reads: 1,
                bytes_read: 1024,
                ..RamStats::default()
            }
        );
        assert_eq!(r.last_fault(), None);
        assert_eq!(r.steps_taken(), 0);
    }
}

#[test]
fn with_contents_keeps_data_and_relies_on_erased_check() {
    let g = geom(64, 4, 32);
    let mut buf = vec![0xFF; Ram::storage_len_for(&g)];
    buf[5] = 0x12;
    buf[64..].fill(0x77); // stale counters are zeroed
    let mut r = Ram::with_contents(buf, g).unwrap();
    assert_eq!(r.as_bytes()[5], 0x12);
    assert_eq!(r.erase_count(0), 0);
    assert_eq!(r.erase_count(1), 0);
    assert_eq!(r.program_count(5), Some(0));
    assert_eq!(
        r.program(4, &[0; 4]),
        Err(RamError::NotErased { offset: 5 })
    );
    r.program(0, &[1; 4]).unwrap();
    r.program(8, &[2; 4]).unwrap();
    assert_eq!(
        r.program(0, &[0xFF; 4]),
        Err(RamError::AlreadyProgrammed { offset: 0 })
    );
}

#[test]
fn program_read_round_trip() {
    for &w in &WRITE_UNITS {
        let mut r = ram(512, w, 256);
        let data = pattern(64, u64::from(w));
        r.program(w * 3, &data).unwrap();
        let mut out = vec![0; 64];
        r.read(w * 3, &mut out).unwrap();
        assert_eq!(out, data);
        // Unaligned reads of any length are fine.
        let mut one = [0u8; 3];
        r.read(w * 3 + 1, &mut one).unwrap();
        assert_eq!(&one[..], &data[1..4]);
        let all = read_all(&mut r);
        let start = (w * 3) as usize;
        assert!(all[..start].iter().all(|&b| b == 0xFF));
        assert!(all[start + 64..].iter().all(|&b| b == 0xFF));
        assert_eq!(r.as_bytes(), &all[..]);
        // Zero-length operations are valid no-ops.
        r.read(512, &mut []).unwrap();
        r.program(0, &[]).unwrap();
        r.erase(256, 256).unwrap();
        assert_eq!(r.as_bytes(), &all[..]);
    }
}

#[test]
fn misaligned_program_rejected() {
    for &w in &WRITE_UNITS[1..] {
        let mut r = ram(256, w, 256);
        let before = r.as_bytes().to_vec();
        let unit = vec![0u8; w as usize];
        assert_eq!(r.program(1, &unit), Err(RamError::Misaligned));
        assert_eq!(r.program(w / 2, &unit), Err(RamError::Misaligned));
        assert_eq!(r.program(0, &unit[1..]), Err(RamError::Misaligned));
        assert_eq!(
            r.program(0, &vec![0; w as usize + 1]),
            Err(RamError::Misaligned)
        );
        assert_eq!(r.as_bytes(), &before[..]);
        assert_eq!(r.program_count(0), Some(0));
        assert_eq!(r.stats(), RamStats::default());
        r.program(w, &unit).unwrap();
    }
    // With W = 1 everything is aligned.
    let mut r = ram(64, 1, 64);
    r.program(3, &[7]).unwrap();
    r.program(4, &[8, 9, 10]).unwrap();
}

#[test]
fn out_of_bounds_rejected() {
    let mut r = ram(256, 4, 128);
    let mut buf = [0u8; 8];
    assert_eq!(r.read(252, &mut buf), Err(RamError::OutOfBounds));
    assert_eq!(r.read(257, &mut []), Err(RamError::OutOfBounds));
    assert_eq!(r.read(u32::MAX, &mut buf), Err(RamError::OutOfBounds));
    assert_eq!(r.program(252, &[0; 8]), Err(RamError::OutOfBounds));
    assert_eq!(r.program(u32::MAX - 3, &[0; 8]), Err(RamError::OutOfBounds));
    assert_eq!(r.program(260, &[0; 4]), Err(RamError::OutOfBounds));
    assert_eq!(r.erase(128, 384), Err(RamError::OutOfBounds));
    assert_eq!(r.erase(128, 0), Err(RamError::OutOfBounds));
    assert_eq!(r.erase(0, u32::MAX), Err(RamError::OutOfBounds));
    assert!(r.as_bytes().iter().all(|&b| b == 0xFF));
    assert_eq!(r.stats(), RamStats::default());
    r.read(248, &mut buf).unwrap();
    r.program(252, &[0; 4]).unwrap();
}

#[test]
fn double_program_rejected_even_after_ff_program() {
    for &w in &WRITE_UNITS {
        let mut r = ram(256, w, 256);
        let unit = w as usize;
        // The first program writes only 0xFF: bytes still read erased.
        r.program(w, &vec![0xFF; unit]).unwrap();
        assert!(r.as_bytes().iter().all(|&b| b == 0xFF));
        assert_eq!(r.program_count(w), Some(1));
        assert_eq!(
            r.program(w, &vec![0; unit]),
            Err(RamError::AlreadyProgrammed { offset: w })
        );
        // A longer program overlapping it is rejected as a whole.
        assert_eq!(
            r.program(0, &vec![0; 3 * unit]),
            Err(RamError::AlreadyProgrammed { offset: w })
        );
        assert!(r.as_bytes().iter().all(|&b| b == 0xFF));
        assert_eq!(r.program_count(0), Some(0));
        assert_eq!(r.program_count(2 * w), Some(0));
        // Its neighbours are still programmable.
        r.program(0, &vec![1; unit]).unwrap();
        r.program(2 * w, &vec![2; unit]).unwrap();
        assert_eq!(r.stats().programs, 3);
    }
}

#[test]
fn program_onto_non_erased_rejected() {
    let mut r = ram(256, 4, 128);
    r.flip_bit(6, 3).unwrap();
    assert_eq!(r.as_bytes()[6], 0xF7);
    let before = r.as_bytes().to_vec();
    assert_eq!(
        r.program(0, &[0; 16]),
        Err(RamError::NotErased { offset: 6 })
    );
    assert_eq!(r.as_bytes(), &before[..]);
    assert_eq!(r.program_count(0), Some(0));
    r.program(8, &[0; 8]).unwrap();
    // After an erase the unit can be programmed.
    r.erase(0, 128).unwrap();
    r.program(0, &[0; 16]).unwrap();
}

#[test]
fn erase_alignment_and_reset() {
    for &w in &WRITE_UNITS {
        let mut r = ram(1024, w, 256);
        let data = pattern(1024, 3);
        r.program(0, &data).unwrap();
        for (from, to) in [(1, 256), (0, 255), (128, 512), (256, 300), (0, 1)] {
            assert_eq!(r.erase(from, to), Err(RamError::EraseMisaligned));
        }
        assert_eq!(r.as_bytes(), &data[..]);
        assert_eq!(r.erase_counts().sum::<u32>(), 0);
        r.erase(256, 768).unwrap();
        let bytes = r.as_bytes();
        assert_eq!(&bytes[..256], &data[..256]);
        assert!(bytes[256..768].iter().all(|&b| b == 0xFF));
        assert_eq!(&bytes[768..], &data[768..]);
        assert_eq!(r.program_count(255), Some(1));
        assert_eq!(r.program_count(256), Some(0));
        assert_eq!(r.program_count(767), Some(0));
        assert_eq!(r.program_count(768), Some(1));
        // Erased units take programs again; others still refuse.
        r.program(256, &data[256..768]).unwrap();
        assert_eq!(r.as_bytes(), &data[..]);
        assert_eq!(
            r.program(768, &vec![0; w as usize]),
            Err(RamError::AlreadyProgrammed { offset: 768 })
        );
    }
}

#[test]
fn stats_and_wear_are_exact() {
    let mut r = ram(1024, 8, 256);
    let mut buf = [0u8; 10];
    r.read(0, &mut buf).unwrap();
    r.read(5, &mut buf[..3]).unwrap();
    r.program(0, &[0; 16]).unwrap();
    r.program(64, &[0; 8]).unwrap();
    r.erase(0, 512).unwrap();
    r.erase(256, 1024).unwrap();
    r.sync().unwrap();
    r.sync().unwrap();
    r.sync().unwrap();
    // Rejected calls count nothing.
    assert!(r.read(1020, &mut buf).is_err());
    assert!(r.program(1, &[0; 8]).is_err());
    assert!(r.erase(1, 2).is_err());
    let expected = RamStats {
        reads: 2,
        bytes_read: 13,
        programs: 2,
        bytes_programmed: 24,
        erases: 5,
        syncs: 3,
    };
    assert_eq!(r.stats(), expected);
    assert_eq!(r.erase_counts().collect::<Vec<_>>(), [1, 2, 1, 1]);
    assert_eq!(r.erase_count(1), 2);
    assert_eq!(r.erase_count(4), 0);
    assert_eq!(r.erase_count(u32::MAX), 0);
    assert_eq!(r.steps_taken(), 3 + 5);
    r.reset_stats();
    assert_eq!(r.stats(), RamStats::default());
    assert_eq!(r.erase_counts().collect::<Vec<_>>(), [1, 2, 1, 1]);
    assert_eq!(r.steps_taken(), 8);
    r.reset_steps();
    assert_eq!(r.steps_taken(), 0);
}

#[test]
fn in_order_knob() {
    let mut r = ram(256, 4, 256);
    assert!(r.persists_in_order());
    r.set_in_order(false);
    assert!(!r.persists_in_order());
    r.set_in_order(true);
    assert!(r.persists_in_order());
}

// ---------------------------------------------------------------- power cuts

/// Checks one torn write unit against its mode. `new` never holds 0xFF.
fn check_torn(mode: TearMode, got: &[u8], new: &[u8]) {
    match mode {
        TearMode::Prefix => {
            let k = got.iter().take_while(|&&b| b != 0xFF).count();
            assert!(k < got.len(), "prefix tear left the whole unit new");
            assert_eq!(&got[..k], &new[..k]);
            assert!(got[k..].iter().all(|&b| b == 0xFF), "{got:?} vs {new:?}");
        }
        TearMode::Subset => {
            for (g, n) in got.iter().zip(new) {
                assert!(*g == 0xFF || g == n, "{got:?} vs {new:?}");
            }
        }
        TearMode::RandomBits => {
            for (g, n) in got.iter().zip(new) {
                // Every bit is old (1) or new: all bits of `new` still set.
                assert_eq!(g & n, *n, "{got:?} vs {new:?}");
            }
        }
    }
}

#[test]
fn torn_program_every_mode_and_write_unit() {
    const UNITS: u32 = 6;
    const REGION_UNITS: u32 = 16;
    for mode in MODES {
        for w in [1u32, 4, 16, 32] {
            let mut prefix_lengths = vec![false; w as usize];
            let (mut all_old, mut all_new, mut mixed, mut bit_mixed) = (0, 0, 0, 0);
            for seed in 0..200u64 {
                let fuel = seed % u64::from(UNITS);
                let mut r = ram(REGION_UNITS * w, w, REGION_UNITS * w);
                let new = pattern((UNITS * w) as usize, seed);
                r.cut_power_after(fuel, mode, seed);
                assert_eq!(r.pending_cut(), Some(fuel));
                // Program all units in one call at offset w (unit 0 stays).
                assert_eq!(r.program(w, &new), Err(RamError::PowerLost));
                assert_eq!(r.pending_cut(), None);
                assert_eq!(r.steps_taken(), fuel);
                let torn_at = w + u32::try_from(fuel).unwrap() * w;
                assert_eq!(
                    r.last_fault(),
                    Some(Fault::TornProgram {
                        offset: torn_at,
                        mode
                    })
                );
                assert_eq!(r.stats(), RamStats::default());
                assert_power_lost(&mut r);
                r.restore_power();
                assert!(!r.power_lost());
                let bytes = read_all(&mut r);
                let (t, wu) = (torn_at as usize, w as usize);
                // Before: fully new; after: untouched.
                assert!(bytes[..wu].iter().all(|&b| b == 0xFF));
                assert_eq!(&bytes[wu..t], &new[..t - wu]);
                assert!(bytes[t + wu..].iter().all(|&b| b == 0xFF));
                let got = &bytes[t..t + wu];
                let want = &new[t - wu..t];
                check_torn(mode, got, want);
                // Program counters: completed units programmed, torn one iff
                // any bit changed, later ones not.
                for u in 1..=UNITS {
                    let off = u * w;
                    let expected = match off.cmp(&torn_at) {
                        core::cmp::Ordering::Less => 1,
                        core::cmp::Ordering::Equal => u8::from(got.iter().any(|&b| b != 0xFF)),
                        core::cmp::Ordering::Greater => 0,
                    };
                    assert_eq!(r.program_count(off), Some(expected));
                }
                // Untouched units after the cut are still programmable, the
                // torn one only if it kept all bits old.
                if torn_at + w < REGION_UNITS * w {
                    r.program(torn_at + w, &vec![0; wu]).unwrap();
                }
                let res = r.program(torn_at, &vec![0; wu]);
                if got.iter().all(|&b| b == 0xFF) {
                    assert_eq!(res, Ok(()));
                    all_old += 1;
                } else {
                    assert_eq!(res, Err(RamError::AlreadyProgrammed { offset: torn_at }));
                    if got == want {
                        all_new += 1;
                    } else {
                        mixed += 1;
                    }
                }
                if mode == TearMode::Prefix {
                    prefix_lengths[got.iter().take_while(|&&b| b != 0xFF).count()] = true;
                }
                if got.iter().zip(want).any(|(g, n)| *g != 0xFF && g != n) {
                    bit_mixed += 1;
                }
            }
            // The modes really produce their variety.
            match mode {
                TearMode::Prefix => {
                    assert!(prefix_lengths.iter().all(|&seen| seen), "w={w}");
                    assert_eq!(all_new, 0);
                    assert_eq!(bit_mixed, 0);
                }
                TearMode::Subset => {
                    // Whole-unit outcomes are only likely for small units.
                    if w <= 4 {
                        assert!(all_old > 0 && all_new > 0, "w={w}");
                    }
                    assert_eq!(mixed > 0, w > 1, "w={w}");
                    assert_eq!(bit_mixed, 0);
                }
                TearMode::RandomBits => {
                    assert!(bit_mixed > 0, "w={w}");
                    assert!(mixed > 0, "w={w}");
                }
            }
        }
    }
}

#[test]
fn torn_program_is_deterministic_per_seed() {
    for mode in MODES {
        let run = |seed| {
            let mut r = ram(256, 32, 256);
            r.cut_power_after(2, mode, seed);
            assert_eq!(r.program(0, &[0; 128]), Err(RamError::PowerLost));
            r.restore_power();
            read_all(&mut r)
        };
        assert_eq!(run(42), run(42));
        let distinct = (0..16).map(run).collect::<std::collections::HashSet<_>>();
        assert!(distinct.len() > 1);
    }
}

#[test]
fn fuel_is_exact_across_calls() {
    // A workload of mixed calls; each entry is (is_erase, units).
    let mut reference = ram(1024, 4, 128);
    let workload = |r: &mut Ram| -> Result<(), RamError> {
        r.program(0, &[1; 12])?; // 3 steps
        r.sync()?; // 0
        let mut b = [0; 4];
        r.read(0, &mut b)?; // 0
        r.erase(128, 512)?; // 3
        r.program(128, &[2; 4])?; // 1
        r.program(132, &[3; 20])?; // 5
        r.erase(0, 128)?; // 1
        r.program(0, &[4; 8])?; // 2
        r.sync()
    };
    workload(&mut reference).unwrap();
    let total = reference.steps_taken();
    assert_eq!(total, 15);
    let final_bytes = reference.as_bytes().to_vec();

    for fuel in 0..=total + 2 {
        let mut r = ram(1024, 4, 128);
        r.cut_power_after(fuel, TearMode::Subset, fuel);
        let res = workload(&mut r);
        if fuel < total {
            assert_eq!(res, Err(RamError::PowerLost), "fuel {fuel}");
            assert!(r.power_lost());
            assert_eq!(r.steps_taken(), fuel, "fuel {fuel}");
            assert!(r.last_fault().is_some());
        } else {
            assert_eq!(res, Ok(()), "fuel {fuel}");
            assert_eq!(r.steps_taken(), total);
            assert_eq!(r.pending_cut(), Some(fuel - total));
            assert_eq!(r.as_bytes(), &final_bytes[..]);
            assert!(!r.power_lost());
        }
    }
}

#[test]
fn fuel_zero_tears_first_unit_touched() {
    let mut r = ram(256, 4, 128);
    let mut b = [0u8; 4];
    r.cut_power_after(0, TearMode::Prefix, 1);
    // Reads and syncs take no fuel.
    r.read(0, &mut b).unwrap();
    r.sync().unwrap();
    // Rejected calls take no fuel either.
    assert_eq!(r.program(2, &[0; 4]), Err(RamError::Misaligned));
    assert_eq!(r.pending_cut(), Some(0));
    assert_eq!(r.program(16, &[0; 8]), Err(RamError::PowerLost));
    assert_eq!(
        r.last_fault(),
        Some(Fault::TornProgram {
            offset: 16,
            mode: TearMode::Prefix
        })
    );
    assert_eq!(r.steps_taken(), 0);
    r.restore_power();
    assert!(r.as_bytes()[20..24].iter().all(|&x| x == 0xFF));
}

#[test]
fn cancel_cut_and_immediate_cut() {
    let mut r = ram(256, 4, 128);
    r.cut_power_after(1, TearMode::Subset, 0);
    r.program(0, &[0; 4]).unwrap();
    assert_eq!(r.pending_cut(), Some(0));
    r.cancel_cut();
    assert_eq!(r.pending_cut(), None);
    r.program(4, &[0; 64]).unwrap();
    assert_eq!(r.steps_taken(), 17);

    r.cut_power();
    assert_eq!(r.last_fault(), Some(Fault::PowerCut));
    assert_power_lost(&mut r);
    // Cancelling a cut does not restore power.
    r.cancel_cut();
    assert!(r.power_lost());
    r.restore_power();
    r.program(68, &[0; 4]).unwrap();
    assert!(r.as_bytes()[..72].iter().all(|&b| b == 0));
    assert!(r.as_bytes()[72..].iter().all(|&b| b == 0xFF));
}

#[test]
fn torn_erase_leaves_old_or_erased_bytes() {
    let (mut reads_erased, mut partial) = (0, 0);
    for seed in 0..200u64 {
        let w = WRITE_UNITS[(seed % 6) as usize];
        let mut r = ram(1024, w, 256);
        let data = pattern(1024, seed);
        r.program(0, &data).unwrap();
        r.reset_steps();
        r.cut_power_after(1, TearMode::RandomBits, seed);
        // Erase units 1..4: unit 1 completes, unit 2 is torn, unit 3 untouched.
        assert_eq!(r.erase(256, 1024), Err(RamError::PowerLost));
        assert_eq!(r.steps_taken(), 1);
        let Some(Fault::TornErase {
            offset,
            reads_erased: reported,
        }) = r.last_fault()
        else {
            panic!("{:?}", r.last_fault());
        };
        assert_eq!(offset, 512);
        assert_power_lost(&mut r);
        r.restore_power();
        let bytes = read_all(&mut r);
        assert_eq!(&bytes[..256], &data[..256]);
        assert!(bytes[256..512].iter().all(|&b| b == 0xFF));
        assert_eq!(&bytes[768..], &data[768..]);
        let torn = &bytes[512..768];
        for (g, old) in torn.iter().zip(&data[512..768]) {
            assert!(*g == 0xFF || g == old);
        }
        let all_ff = torn.iter().all(|&b| b == 0xFF);
        assert_eq!(all_ff, reported);
        if all_ff {
            reads_erased += 1;
        } else if torn.contains(&0xFF) {
            partial += 1;
        }
        // Wear counts the torn erase; stats do not count the failed call.
        assert_eq!(r.erase_counts().collect::<Vec<_>>(), [0, 1, 1, 0]);
        assert_eq!(r.stats().erases, 0);
        // The torn unit is not reliably erased: programs are refused until a
        // full erase, even when it reads all 0xFF.
        let unit = vec![0; w as usize];
        assert!(matches!(
            r.program(512, &unit),
            Err(RamError::AlreadyProgrammed { offset: 512 })
        ));
        assert!(matches!(
            r.program(764 / w * w, &unit),
            Err(RamError::AlreadyProgrammed { .. })
        ));
        r.program(256, &unit).unwrap();
        r.erase(512, 768).unwrap();
        r.program(512, &unit).unwrap();
    }
    assert!(reads_erased > 20, "{reads_erased}");
    assert!(partial > 20, "{partial}");
}

#[test]
fn torn_erase_of_erased_unit_still_needs_erase() {
    let mut r = ram(256, 4, 128);
    r.cut_power_after(0, TearMode::Prefix, 9);
    assert_eq!(r.erase(0, 128), Err(RamError::PowerLost));
    r.restore_power();
    assert!(r.as_bytes().iter().all(|&b| b == 0xFF));
    assert_eq!(
        r.program(0, &[0; 4]),
        Err(RamError::AlreadyProgrammed { offset: 0 })
    );
    r.program(128, &[0; 4]).unwrap();
}

// ---------------------------------------------------------------- other faults

#[test]
fn flip_bit_and_random_flips() {
    let mut r = ram(256, 4, 128);
    r.program(0, &[0; 4]).unwrap();
    r.flip_bit(1, 7).unwrap();
    assert_eq!(&r.as_bytes()[..4], &[0, 0x80, 0, 0]);
    assert_eq!(r.last_fault(), Some(Fault::BitFlip { offset: 1, bit: 7 }));
    r.flip_bit(1, 7).unwrap();
    assert_eq!(&r.as_bytes()[..4], &[0, 0, 0, 0]);
    // Counters are not touched.
    assert_eq!(r.program_count(0), Some(1));
    assert_eq!(r.flip_bit(256, 0), Err(RamError::OutOfBounds));
    assert_eq!(r.flip_bit(0, 8), Err(RamError::OutOfBounds));
    // Works while power is lost.
    r.cut_power();
    r.flip_bit(200, 0).unwrap();
    r.restore_power();
    assert_eq!(r.as_bytes()[200], 0xFE);
    r.flip_bit(200, 0).unwrap();

    let mut seen = std::collections::HashSet::new();
    for seed in 0..300 {
        let before = r.as_bytes().to_vec();
        let (off, bit) = r.flip_random_bit(16..48, seed).unwrap();
        assert!((16..48).contains(&off) && bit < 8);
        assert_eq!(r.last_fault(), Some(Fault::BitFlip { offset: off, bit }));
        let after = r.as_bytes().to_vec();
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            if i == off as usize {
                assert_eq!(a ^ b, 1 << bit);
            } else {
                assert_eq!(a, b);
            }
        }
        seen.insert((off, bit));
        // Same seed, same bit: flipping back restores.
        assert_eq!(r.flip_random_bit(16..48, seed), Ok((off, bit)));
        assert_eq!(r.as_bytes(), &before[..]);
    }
    assert!(seen.len() > 100);
    assert_eq!(r.flip_random_bit(10..10, 0), Err(RamError::OutOfBounds));
    assert_eq!(r.flip_random_bit(250..257, 0), Err(RamError::OutOfBounds));
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 20..10;
    assert_eq!(r.flip_random_bit(backwards, 0), Err(RamError::OutOfBounds));
    assert_eq!(r.flip_random_bit(255..256, 3).map(|(o, _)| o), Ok(255));
}

#[test]
fn injected_failures_change_nothing() {
    let mut r = ram(512, 4, 256);
    r.program(0, &[0; 8]).unwrap();
    r.reset_stats();
    r.reset_steps();
    let before = r.as_bytes().to_vec();

    r.fail_next_program();
    // An invalid call reports its own error and leaves the injection armed.
    assert_eq!(r.program(1, &[0; 4]), Err(RamError::Misaligned));
    assert_eq!(r.program(16, &[1; 8]), Err(RamError::Injected));
    assert_eq!(r.last_fault(), Some(Fault::InjectedProgram { offset: 16 }));
    assert_eq!(r.as_bytes(), &before[..]);
    assert_eq!(r.program_count(16), Some(0));
    assert!(!r.power_lost());
    r.program(16, &[1; 8]).unwrap();

    r.fail_next_erase();
    assert_eq!(r.erase(0, 100), Err(RamError::EraseMisaligned));
    let before = r.as_bytes().to_vec();
    assert_eq!(r.erase(0, 512), Err(RamError::Injected));
    assert_eq!(r.last_fault(), Some(Fault::InjectedErase { from: 0 }));
    assert_eq!(r.as_bytes(), &before[..]);
    assert_eq!(r.erase_counts().collect::<Vec<_>>(), [0, 0]);
    assert_eq!(r.stats().erases, 0);
    r.erase(0, 512).unwrap();

    assert_eq!(r.steps_taken(), 2 + 2);
    assert_eq!(
        r.stats(),
        RamStats {
            programs: 1,
            bytes_programmed: 8,
            erases: 2,
            ..RamStats::default()
        }
    );

    // Injection does not consume cut fuel.
    r.cut_power_after(0, TearMode::Subset, 0);
    r.fail_next_program();
    assert_eq!(r.program(0, &[0; 4]), Err(RamError::Injected));
    assert_eq!(r.pending_cut(), Some(0));
}

// ---------------------------------------------------------------- misc

#[test]
fn send_sync_debug_display() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RamRegion<Vec<u8>>>();
    assert_send_sync::<RamRegion<&'static mut [u8]>>();
    assert_send_sync::<RamError>();

    let r = ram(1 << 16, 4, 4096);
    let dbg = format!("{r:?}");
    assert!(dbg.starts_with("RamRegion"));
    assert!(dbg.len() < 1000, "Debug must not dump the buffer");

    let errors = [
        RamError::InvalidGeometry,
        RamError::StorageLength {
            expected: 1,
            actual: 2,
        },
        RamError::OutOfBounds,
        RamError::Misaligned,
        RamError::AlreadyProgrammed { offset: 16 },
        RamError::NotErased { offset: 17 },
        RamError::EraseMisaligned,
        RamError::PowerLost,
        RamError::Injected,
    ];
    let texts: std::collections::HashSet<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), errors.len());
    let boxed: Box<dyn std::error::Error> = Box::new(RamError::PowerLost);
    assert_eq!(boxed.to_string(), "power lost");
}

#[test]
fn clone_snapshots_state() {
    let mut r = ram(256, 4, 128);
    r.program(0, &[1; 4]).unwrap();
    let mut snap = r.clone();
    r.erase(0, 128).unwrap();
    assert_eq!(snap.as_bytes()[0], 1);
    assert_eq!(
        snap.program(0, &[0; 4]),
        Err(RamError::AlreadyProgrammed { offset: 0 })
    );
    assert_eq!(r.as_bytes()[0], 0xFF);
}

#[test]
fn data_mut_bypasses_rules() {
    let mut r = ram(128, 8, 128);
    r.data_mut()[3] = 0;
    assert_eq!(r.data_mut().len(), 128);
    assert_eq!(
        r.program(0, &[0; 8]),
        Err(RamError::NotErased { offset: 3 })
    );
    assert_eq!(r.program_count(0), Some(0));
}

// ---------------------------------------------------------------- model test

#[derive(Clone, Debug)]
enum Op {
    Program { unit: u32, units: u32, seed: u64 },
    Erase { unit: u32, units: u32 },
    Read { offset: u32, len: u32 },
    Misaligned { offset: u32, len: u32 },
    Sync,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..64, 1u32..6, any::<u64>())
            .prop_map(|(unit, units, seed)| Op::Program { unit, units, seed }),
        1 => (0u32..8, 0u32..3).prop_map(|(unit, units)| Op::Erase { unit, units }),
        2 => (0u32..1100, 0u32..80).prop_map(|(offset, len)| Op::Read { offset, len }),
        1 => (0u32..1100, 1u32..80).prop_map(|(offset, len)| Op::Misaligned { offset, len }),
        1 => Just(Op::Sync),
    ]
}

/// The obvious model: bytes, a programmed flag per write unit, wear.
struct Model {
    bytes: Vec<u8>,
    programmed: Vec<bool>,
    wear: Vec<u32>,
    stats: RamStats,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_vec_model(
        wi in 0usize..6,
        e_shift in 0u32..4,
        erase_units in 1u32..6,
        image in proptest::option::of(proptest::collection::vec(
            prop_oneof![3 => Just(0xFFu8), 1 => any::<u8>()], 1280)),
        ops in proptest::collection::vec(op_strategy(), 1..60),
    ) {
        let w = WRITE_UNITS[wi];
        let e = (w.max(16) << e_shift).min(256);
        let size = e * erase_units;
        let g = geom(size, w, e);
        let mut buf = vec![0xFF; Ram::storage_len_for(&g)];
        let mut r = match &image {
            Some(img) => {
                buf[..size as usize].copy_from_slice(&img[..size as usize]);
                Ram::with_contents(buf, g).unwrap()
            }
            None => Ram::new(buf, g).unwrap(),
        };
        let units = (size / w) as usize;
        let mut m = Model {
            bytes: r.as_bytes().to_vec(),
            programmed: vec![false; units],
            wear: vec![0; erase_units as usize],
            stats: RamStats::default(),
        };
        for op in ops {
            match op {
                Op::Program { unit, units: n, seed } => {
                    let off = unit * w;
                    let len = n * w;
                    let data: Vec<u8> = pattern(len as usize, seed)
                        .into_iter()
                        .enumerate()
                        .map(|(i, b)| if (seed >> (i % 64)) & 1 == 1 { 0xFF } else { b })
                        .collect();
                    let got = r.program(off, &data);
                    let expected = if off + len > size {
                        Err(RamError::OutOfBounds)
                    } else {
                        let (a, b) = ((off / w) as usize, ((off + len) / w) as usize);
                        let (s, t) = (off as usize, (off + len) as usize);
                        if let Some(i) = m.programmed[a..b].iter().position(|&p| p) {
                            Err(RamError::AlreadyProgrammed { offset: off + i as u32 * w })
                        } else if let Some(i) = m.bytes[s..t].iter().position(|&x| x != 0xFF) {
                            Err(RamError::NotErased { offset: off + i as u32 })
                        } else {
                            m.bytes[s..t].copy_from_slice(&data);
                            m.programmed[a..b].fill(true);
                            m.stats.programs += 1;
                            m.stats.bytes_programmed += u64::from(len);
                            Ok(())
                        }
                    };
                    prop_assert_eq!(got, expected);
                }
                Op::Erase { unit, units: n } => {
                    let (from, to) = (unit * e, (unit + n) * e);
                    let got = r.erase(from, to);
                    if to > size {
                        prop_assert_eq!(got, Err(RamError::OutOfBounds));
                    } else {
                        prop_assert_eq!(got, Ok(()));
                        m.bytes[from as usize..to as usize].fill(0xFF);
                        m.programmed[(from / w) as usize..(to / w) as usize].fill(false);
                        for u in unit..unit + n {
                            m.wear[u as usize] += 1;
                        }
                        m.stats.erases += u64::from(n);
                    }
                }
                Op::Read { offset, len } => {
                    let mut out = vec![0; len as usize];
                    let got = r.read(offset, &mut out);
                    if offset + len > size {
                        prop_assert_eq!(got, Err(RamError::OutOfBounds));
                    } else {
                        prop_assert_eq!(got, Ok(()));
                        prop_assert_eq!(&out[..], &m.bytes[offset as usize..(offset + len) as usize]);
                        m.stats.reads += 1;
                        m.stats.bytes_read += u64::from(len);
                    }
                }
                Op::Misaligned { offset, len } => {
                    // A program with a bad length or offset, or an erase not
                    // on erase units: rejected, nothing changes.
                    let got = r.program(offset, &vec![0; len as usize]);
                    if offset + len > size {
                        prop_assert_eq!(got, Err(RamError::OutOfBounds));
                    } else if offset % w != 0 || len % w != 0 {
                        prop_assert_eq!(got, Err(RamError::Misaligned));
                    } else {
                        // Aligned after all: undo through the model's rules.
                        let (a, b) = ((offset / w) as usize, ((offset + len) / w) as usize);
                        let (s, t) = (offset as usize, (offset + len) as usize);
                        if m.programmed[a..b].iter().any(|&p| p)
                            || m.bytes[s..t].iter().any(|&x| x != 0xFF)
                        {
                            prop_assert!(got.is_err());
                        } else {
                            prop_assert_eq!(got, Ok(()));
                            m.bytes[s..t].fill(0);
                            m.programmed[a..b].fill(true);
                            m.stats.programs += 1;
                            m.stats.bytes_programmed += u64::from(len);
                        }
                    }
                    if offset % e != 0 && offset + e <= size {
                        prop_assert_eq!(r.erase(offset, offset + e), Err(RamError::EraseMisaligned));
                    }
                }
                Op::Sync => {
                    prop_assert_eq!(r.sync(), Ok(()));
                    m.stats.syncs += 1;
                }
            }
            prop_assert_eq!(r.as_bytes(), &m.bytes[..]);
        }
        prop_assert_eq!(r.stats(), m.stats);
        prop_assert_eq!(r.erase_counts().collect::<Vec<_>>(), m.wear);
        for (i, &p) in m.programmed.iter().enumerate() {
            prop_assert_eq!(r.program_count(i as u32 * w), Some(u8::from(p)));
        }
    }
}

#[test]
fn a_program_without_a_cut_armed_counts_as_one_with_a_cut_far_off() {
    // `program` takes a shorter path when no cut is armed; its bytes,
    // program counts, steps and statistics are those of the per-unit path
    // that runs when a cut is armed (here far beyond the program).
    for &w in &WRITE_UNITS {
        let data = pattern(8 * w as usize, u64::from(w));
        let mut plain = ram(512, w, 256);
        let mut armed = ram(512, w, 256);
        armed.cut_power_after(1_000_000, TearMode::Prefix, 1);
        for r in [&mut plain, &mut armed] {
            r.program(2 * w, &data).unwrap();
        }
        assert_eq!(plain.as_bytes(), armed.as_bytes());
        assert_eq!(plain.steps_taken(), armed.steps_taken());
        assert_eq!(plain.steps_taken(), 8);
        for u in 0..12 {
            let expect = u32::from((2..10).contains(&u));
            assert_eq!(
                plain.program_count(u * w),
                Some(expect as u8),
                "w {w} unit {u}"
            );
            assert_eq!(
                armed.program_count(u * w),
                Some(expect as u8),
                "w {w} unit {u}"
            );
        }
        assert_eq!(plain.stats(), armed.stats());
    }
}
