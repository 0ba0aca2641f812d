//! Index checkpoints (FORMAT.md §11): an open given a checkpoint ends in
//! exactly the state an open without one reaches, on every image a crash or
//! damage can leave; it takes the checkpoint (and walks the log only from
//! its position) when the log before that position is unchanged, and only
//! then.
//!
//! The oracle throughout: the same image opened without and with each
//! checkpoint, compared on the open's result, the stats, every key's answer,
//! and the bytes the same writes then program.

use proptest::prelude::*;
use twinkv_core::testkit::*;
use twinkv_core::{
    Config, Error, MappedRegion, RamError, RamRegion, Region, RegionId, Stats, TearMode,
};

/// Both regions whole (bytes, program counters, weak cells): what a
/// reopen finds.
type Images = (RamRegion<Vec<u8>>, RamRegion<Vec<u8>>);

fn image_of(rig: &Rig<'_>) -> Images {
    (rig.a.ram.clone(), rig.b.ram.clone())
}

fn put_back(rig: &mut Rig<'_>, images: &Images) {
    rig.restore();
    rig.a.ram = images.0.clone();
    rig.b.ram = images.1.clone();
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

const KEYS: u8 = 12;

fn config() -> Config {
    Config::new(0xC4E7).with_limits(8, 24)
}

/// What an open shows: its error, or the stats a replay sets, every key's
/// answer, and the regions' bytes after the same few writes.
#[derive(Debug, PartialEq)]
struct Seen {
    /// [`stats_of`].
    stats: [u64; 13],
    answers: Vec<Answer>,
    /// A hash of both regions' bytes after the writes, or their error.
    after: Result<u64, Error<RamError>>,
    /// The stats and answers after a compaction then.
    compacted: Result<([u64; 13], Vec<Answer>), Error<RamError>>,
}

type Answer = Result<Option<Vec<u8>>, Error<RamError>>;

/// Every key's answer.
fn answers_of(s: &mut TestStore<'_, '_>) -> Vec<Answer> {
    (0..KEYS)
        .map(|k| {
            let mut buf = [0u8; 32];
            s.get(&key(k), &mut buf)
                .map(|o| o.map(|n| buf[..n].to_vec()))
        })
        .collect()
}

/// The stats a replay sets: active region, generation, used, uncovered,
/// live and free bytes, live and damaged keys, damage and stray bytes found
/// at open, dirty tail, units pending erase, unfinished switch.
fn stats_of(st: &Stats) -> [u64; 13] {
    [
        u64::from(st.active == RegionId::B),
        st.generation,
        u64::from(st.used_bytes),
        u64::from(st.uncovered_bytes),
        u64::from(st.live_bytes),
        u64::from(st.free_bytes),
        st.live_keys as u64,
        st.damaged_keys as u64,
        u64::from(st.damage_found_at_open),
        u64::from(st.stray_bytes_found),
        u64::from(st.dirty_tail),
        u64::from(st.erase_pending),
        u64::from(st.unfinished_switch),
    ]
}

/// Opens `images` (restored into `rig` first) without a checkpoint
/// (`None`) or with one, and records what it shows; then the same writes,
/// and the bytes they leave. Returns whether the checkpoint was taken.
fn seen(
    rig: &mut Rig<'_>,
    images: &Images,
    checkpoint: Option<&[u8]>,
) -> (Result<Seen, Error<RamError>>, bool) {
    put_back(rig, images);
    let opened = match checkpoint {
        None => rig.open(),
        Some(c) => rig.open_with_checkpoint(c),
    };
    let mut s = match opened {
        Ok(s) => s,
        Err(e) => return (Err(e), false),
    };
    let resumed = s.opened_from_checkpoint();
    let stats = stats_of(&s.stats());
    let answers = answers_of(&mut s);
    // The same writes from here must program the same bytes.
    let wrote = (|| {
        s.set(&key(1), b"after-1")?;
        s.remove(&key(2))?;
        s.set(&key(3), b"after-3")?;
        s.sync()?;
        s.set(&key(4), b"after-4")
    })();
    let after = wrote.map(|()| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        s.regions().0.ram.as_bytes().hash(&mut h);
        s.regions().1.ram.as_bytes().hash(&mut h);
        h.finish()
    });
    // A switch copies in index order, which depends on the order keys
    // were inserted: the same state, not the same bytes.
    let compacted = s
        .compact()
        .map(|()| (stats_of(&s.stats()), answers_of(&mut s)));
    drop(s);
    (
        Ok(Seen {
            stats,
            answers,
            after,
            compacted,
        }),
        resumed,
    )
}

/// Opens `images` without and with each of `checkpoints`; every open must
/// show the same. With `same_bytes` off, the bytes the writes after the
/// open program may differ (see `run`). Returns how many checkpoints were
/// taken.
fn all_the_same(
    rig: &mut Rig<'_>,
    images: &Images,
    checkpoints: &[Vec<u8>],
    what: &str,
    same_bytes: bool,
) -> Result<usize, TestCaseError> {
    let blank = |seen: Result<Seen, Error<RamError>>| match seen {
        Ok(s) if !same_bytes => Ok(Seen {
            after: s.after.map(|_| 0),
            ..s
        }),
        other => other,
    };
    let plain = blank(seen(rig, images, None).0);
    let mut taken = 0;
    for (i, c) in checkpoints.iter().enumerate() {
        let (with, resumed) = seen(rig, images, Some(c));
        prop_assert_eq!(
            &blank(with),
            &plain,
            "{}: checkpoint {} of {}",
            what,
            i,
            checkpoints.len()
        );
        taken += usize::from(resumed);
    }
    put_back(rig, images);
    Ok(taken)
}

fn capture(s: &mut TestStore<'_, '_>, sync: bool) -> Option<Vec<u8>> {
    if sync {
        s.sync().ok()?;
    }
    let len = s.checkpoint_len()?;
    let mut out = vec![0u8; len];
    let n = s.write_checkpoint(&mut out).unwrap()?;
    assert_eq!(n, len);
    Some(out)
}

#[derive(Clone, Debug)]
enum Step {
    Write(Write),
    /// A checkpoint, after a sync (`true`) or as the store stands.
    Capture(bool),
    /// Reopen with the checkpoint `i % captured` (or none when none).
    Reopen(usize),
    /// Compare the opens of the current image.
    Compare,
}

/// How a case ends: a power cut during one more write, or a flipped bit.
#[derive(Clone, Debug)]
enum End {
    Cut(Write, u64, u64),
    Flip(bool, u32, u8),
    Nothing,
}

fn write() -> impl Strategy<Value = Write> {
    let value = prop::collection::vec(any::<u8>(), 0..=24);
    let op = (
        0u8..KEYS,
        prop::option::of(prop::collection::vec(any::<u8>(), 0..=24)),
    );
    prop_oneof![
        30 => (0u8..KEYS, value.clone()).prop_map(|(k, v)| Write::Set(key(k), v)),
        // Values of a length fixed by the key: overwrites are updates.
        20 => (0u8..KEYS, any::<u8>()).prop_map(|(k, b)| Write::Set(key(k), vec![b; usize::from(k) + 1])),
        10 => (0u8..KEYS).prop_map(|k| Write::Delete(key(k))),
        6 => prop::collection::vec(op, 1..5).prop_map(|ops| Write::Batch(
            ops.into_iter().map(|(k, v)| (key(k), v)).collect())),
        2 => Just(Write::Compact),
        5 => Just(Write::Sync),
        1 => Just(Write::Clear),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        40 => write().prop_map(Step::Write),
        6 => any::<bool>().prop_map(Step::Capture),
        4 => any::<usize>().prop_map(Step::Reopen),
        2 => Just(Step::Compare),
    ]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        3 => (write(), 0u64..40, any::<u64>()).prop_map(|(w, n, seed)| End::Cut(w, n, seed)),
        3 => (any::<bool>(), any::<u32>(), 0u8..8).prop_map(|(a, at, bit)| End::Flip(a, at, bit)),
        1 => Just(End::Nothing),
    ]
}

fn run(w: u32, in_order: bool, steps: &[Step], end: &End) -> Result<(), TestCaseError> {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, w, config());
    rig.set_in_order(in_order);
    let mut model = Model::new();
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let mut s = rig.open().unwrap();
    for (i, st) in steps.iter().enumerate() {
        match st {
            Step::Write(wr) => match wr.run(&mut s) {
                Ok(()) => wr.apply_to(&mut model),
                Err(e) => return Err(TestCaseError::fail(format!("step {i} {wr:?}: {e:?}"))),
            },
            Step::Capture(sync) => {
                if let Some(c) = capture(&mut s, *sync) {
                    captured.push(c);
                }
            }
            Step::Reopen(k) => {
                drop(s);
                let images = image_of(&rig);
                all_the_same(&mut rig, &images, &captured, &format!("step {i}"), true)?;
                s = match captured.get(k.checked_rem(captured.len()).unwrap_or(0)) {
                    Some(c) => rig.open_with_checkpoint(c).unwrap(),
                    None => rig.open().unwrap(),
                };
                check_store(&mut s, &model, KEYS)?;
            }
            Step::Compare => {
                drop(s);
                let images = image_of(&rig);
                all_the_same(&mut rig, &images, &captured, &format!("step {i}"), true)?;
                s = rig.open().unwrap();
            }
        }
    }
    if let Some(c) = capture(&mut s, true) {
        captured.push(c);
    }
    match end {
        End::Cut(wr, n, seed) => {
            power.cut_after(*n, TearMode::RandomBits, *seed);
            let _ = wr.run(&mut s);
            drop(s);
            rig.restore();
        }
        End::Flip(a, at, bit) => {
            drop(s);
            let r = if *a { &mut rig.a } else { &mut rig.b };
            let len = r.ram.data_mut().len() as u32;
            r.ram.flip_bit(at % len, *bit).unwrap();
        }
        End::Nothing => drop(s),
    }
    let images = image_of(&rig);
    // A flipped bit past the log's end is found by the lazy read of an
    // append (FORMAT.md §6.2); how far past the end an open read depends on
    // where its reads began (the replay reads through the scratch window
    // from the data start, a walk from a checkpoint from its position), so
    // the append that finds it, and the bytes programmed from there, may
    // differ; the state each reaches may not.
    let same_bytes = !matches!(end, End::Flip(..));
    all_the_same(
        &mut rig,
        &images,
        &captured,
        &format!("end {end:?}"),
        same_bytes,
    )?;
    Ok(())
}

/// `check_store` over keys `0..n` of this file's key names.
fn check_store(s: &mut TestStore<'_, '_>, model: &Model, n: u8) -> Result<(), TestCaseError> {
    for k in 0..n {
        let mut buf = [0u8; 32];
        let got = s
            .get(&key(k), &mut buf)
            .map(|o| o.map(|n| buf[..n].to_vec()));
        prop_assert_eq!(got, Ok(model.get(&key(k)).cloned()), "key {}", k);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn opens_with_a_checkpoint_equal_opens_without_w4(
        steps in prop::collection::vec(step(), 1..80),
        end in end(),
    ) {
        run(4, true, &steps, &end)?;
    }

    #[test]
    fn opens_with_a_checkpoint_equal_opens_without_w1_not_in_order(
        steps in prop::collection::vec(step(), 1..80),
        end in end(),
    ) {
        run(1, false, &steps, &end)?;
    }

    #[test]
    fn opens_with_a_checkpoint_equal_opens_without_w8_not_in_order(
        steps in prop::collection::vec(step(), 1..80),
        end in end(),
    ) {
        run(8, false, &steps, &end)?;
    }
}

/// A store with some history, synced, and a checkpoint of it.
fn written(rig: &mut Rig<'_>, model: &mut Model) -> Vec<u8> {
    let mut s = rig.open().unwrap();
    for (i, wr) in workload(60, 8, 7, 16).iter().enumerate() {
        let wr = match wr {
            // This file's keys, so that `check_store` sees them.
            Write::Set(_, v) => Write::Set(key((i % 8) as u8), v.clone()),
            Write::Delete(_) => Write::Delete(key((i % 8) as u8)),
            _ => continue,
        };
        wr.run(&mut s).unwrap();
        wr.apply_to(model);
    }
    capture(&mut s, true).expect("a synced store without damage writes one")
}

#[test]
fn the_tail_after_the_checkpoint_is_replayed() {
    for in_order in [true, false] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 4096, 4, config());
        rig.set_in_order(in_order);
        let mut model = Model::new();
        let c = written(&mut rig, &mut model);
        {
            let mut s = rig.open_with_checkpoint(&c).unwrap();
            assert!(s.opened_from_checkpoint());
            check_store(&mut s, &model, KEYS).unwrap();
            // Written after the checkpoint, some synced, the rest not.
            for (k, wr) in [
                Write::Set(key(1), b"one".to_vec()),
                Write::Delete(key(2)),
                Write::Sync,
                Write::Set(key(9), b"nine".to_vec()),
                Write::Set(key(1), b"uno".to_vec()),
            ]
            .iter()
            .enumerate()
            {
                wr.run(&mut s).unwrap_or_else(|e| panic!("{k}: {e:?}"));
                wr.apply_to(&mut model);
            }
        }
        let mut s = rig.open_with_checkpoint(&c).unwrap();
        assert!(s.opened_from_checkpoint(), "in order {in_order}");
        check_store(&mut s, &model, KEYS).unwrap();
        drop(s);
        let images = image_of(&rig);
        let taken = all_the_same(&mut rig, &images, &[c], "tail", true).unwrap();
        assert_eq!(taken, 1);
    }
}

#[test]
fn damage_before_the_position_drops_the_checkpoint_and_is_reported() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    let mut model = Model::new();
    let c = written(&mut rig, &mut model);
    let images = image_of(&rig);
    let active_a = rig.open().unwrap().stats().active == RegionId::A;
    let used = rig.open().unwrap().stats().used_bytes;
    let mut reported = 0;
    // Every bit of the log before the checkpoint's position (84 = D at W 4).
    for bit in 0..used * 8 {
        put_back(&mut rig, &images);
        let r = if active_a { &mut rig.a } else { &mut rig.b };
        r.ram.flip_bit(84 + bit / 8, (bit % 8) as u8).unwrap();
        let damaged = image_of(&rig);
        let (with, resumed) = seen(&mut rig, &damaged, Some(&c));
        assert!(!resumed, "bit {bit}: taken over damage");
        let (plain, _) = seen(&mut rig, &damaged, None);
        assert_eq!(with, plain, "bit {bit}");
        reported += usize::from(match &plain {
            Ok(p) => p.stats[8] > 0 || p.answers.iter().any(|a| a.is_err()),
            Err(_) => true,
        });
    }
    assert!(reported > 0);
}

#[test]
fn every_flipped_bit_of_a_checkpoint_opens_as_without_one() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    let mut model = Model::new();
    let c = written(&mut rig, &mut model);
    let images = image_of(&rig);
    let (plain, _) = seen(&mut rig, &images, None);
    for bit in 0..c.len() * 8 {
        let mut bad = c.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let (with, resumed) = seen(&mut rig, &images, Some(&bad));
        assert!(!resumed, "bit {bit}");
        assert_eq!(with, plain, "bit {bit}");
    }
    for len in 0..c.len() {
        let (with, resumed) = seen(&mut rig, &images, Some(&c[..len]));
        assert!(!resumed, "len {len}");
        assert_eq!(with, plain, "len {len}");
    }
    let (with, resumed) = seen(&mut rig, &images, Some(&c));
    assert!(resumed);
    assert_eq!(with, plain);
}

#[test]
fn a_checkpoint_of_another_generation_or_store_is_not_taken() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    let mut model = Model::new();
    let c = written(&mut rig, &mut model);
    {
        let mut s = rig.open().unwrap();
        s.compact().unwrap();
    }
    let mut s = rig.open_with_checkpoint(&c).unwrap();
    assert!(!s.opened_from_checkpoint());
    check_store(&mut s, &model, KEYS).unwrap();
    drop(s);
    // The same history in another store (another id).
    let power2 = Power::default();
    let mut other = Rig::new(&power2, 4096, 4, Config::new(0xC4E8).with_limits(8, 24));
    let mut m2 = Model::new();
    let c2 = written(&mut other, &mut m2);
    let s = rig.open_with_checkpoint(&c2).unwrap();
    assert!(!s.opened_from_checkpoint());
}

#[test]
fn one_is_written_unsynced_but_none_mid_switch() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 2048, 4, config());
    rig.set_in_order(false);
    let mut s = rig.open().unwrap();
    s.set(b"a", b"1").unwrap();
    // Not synced past the last write: the prefix check speaks for it.
    let len = s.checkpoint_len().expect("unsynced");
    let mut too_short = vec![0u8; len - 1];
    assert_eq!(
        s.write_checkpoint(&mut too_short),
        Err(Error::BufferTooSmall(len))
    );
    // A switch under way (its copy spread over writes): none.
    let mut k = 0u32;
    while !s.stats().switching {
        s.set(format!("k{}", k % 12).as_bytes(), &[k as u8; 20])
            .unwrap();
        k += 1;
        assert!(k < 10_000, "no switch began");
    }
    assert_eq!(s.checkpoint_len(), None, "mid-switch");
    let mut out = vec![0u8; 4096];
    assert_eq!(s.write_checkpoint(&mut out), Ok(None));
}

#[test]
fn a_dirty_tail_after_the_position_drops_the_checkpoint() {
    for n in 0..12 {
        let power = Power::default();
        let mut rig = Rig::new(&power, 4096, 1, config());
        rig.set_in_order(false);
        let mut model = Model::new();
        let c = written(&mut rig, &mut model);
        {
            let mut s = rig.open().unwrap();
            power.cut_after(n, TearMode::RandomBits, n);
            let _ = s.set(&key(3), b"torn-value-of-some-length");
        }
        rig.restore();
        let images = image_of(&rig);
        let (plain, _) = seen(&mut rig, &images, None);
        let (with, resumed) = seen(&mut rig, &images, Some(&c));
        assert_eq!(with, plain, "cut after {n}");
        if let Ok(p) = &plain {
            if p.stats[10] != 0 {
                assert!(!resumed, "cut after {n}: taken over a dirty tail");
            }
        }
    }
}

#[test]
fn an_index_too_small_for_the_entries_opens_as_without() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    let mut model = Model::new();
    let c = written(&mut rig, &mut model);
    let w = rig.a.ram.geometry().write_unit;
    let with = twinkv_core::Store::open_with_checkpoint(
        &mut rig.a,
        &mut rig.b,
        twinkv_core::FixedIndex::<4>::new(),
        vec![0u8; TestStore::scratch_len(&config(), w)],
        config(),
        &c,
    )
    .map(|s| (s.opened_from_checkpoint(), s.len()));
    let plain = twinkv_core::Store::open(
        &mut rig.a,
        &mut rig.b,
        twinkv_core::FixedIndex::<4>::new(),
        vec![0u8; TestStore::scratch_len(&config(), w)],
        config(),
    )
    .map(|s| (false, s.len()));
    assert_eq!(with, plain);
}

#[test]
fn checkpoints_carried_on_from_the_last_are_taken() {
    for in_order in [true, false] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 4096, 4, config());
        rig.set_in_order(in_order);
        let mut model = Model::new();
        let mut taken_from = Vec::new();
        {
            let mut s = rig.open().unwrap();
            for round in 0..4u8 {
                for k in 0..6 {
                    let wr = Write::Set(key(k), vec![round; usize::from(k) + 2]);
                    wr.run(&mut s).unwrap();
                    wr.apply_to(&mut model);
                }
                // The second and later continue the first's prefix check.
                taken_from.push(capture(&mut s, false).expect("a checkpoint"));
            }
        }
        // Each of them, over the log they were written from.
        let last = taken_from.last().unwrap().clone();
        for (i, c) in taken_from.iter().enumerate() {
            let mut s = rig.open_with_checkpoint(c).unwrap();
            assert!(s.opened_from_checkpoint(), "in order {in_order}: {i}");
            check_store(&mut s, &model, KEYS).unwrap();
        }
        // One carried on from the check an open took.
        let c = {
            let mut s = rig.open_with_checkpoint(&last).unwrap();
            let wr = Write::Set(key(9), b"after".to_vec());
            wr.run(&mut s).unwrap();
            wr.apply_to(&mut model);
            capture(&mut s, false).expect("a checkpoint")
        };
        let mut s = rig.open_with_checkpoint(&c).unwrap();
        assert!(
            s.opened_from_checkpoint(),
            "in order {in_order}: after an open"
        );
        check_store(&mut s, &model, KEYS).unwrap();
    }
}

/// The async front end: a checkpoint the async store wrote is taken by a
/// blocking open and the other way round, with the same answers.
#[test]
fn the_async_store_writes_and_takes_the_same_checkpoints() {
    use twinkv_core::testkit::asynch::block_on;
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    rig.set_in_order(false);
    let mut model = Model::new();
    let from_async = {
        let mut s = rig.open_async().unwrap();
        for k in 0..8 {
            let wr = Write::Set(key(k), vec![k; 6]);
            wr.run(&mut s).unwrap();
            wr.apply_to(&mut model);
        }
        let mut c = vec![0u8; s.0.checkpoint_len().unwrap()];
        block_on(s.0.write_checkpoint(&mut c)).unwrap().unwrap();
        c
    };
    let from_blocking = {
        let mut s = rig.open_with_checkpoint(&from_async).unwrap();
        assert!(s.opened_from_checkpoint());
        check_store(&mut s, &model, KEYS).unwrap();
        let wr = Write::Delete(key(3));
        wr.run(&mut s).unwrap();
        wr.apply_to(&mut model);
        capture(&mut s, false).unwrap()
    };
    let s = rig.open_async_with_checkpoint(&from_blocking).unwrap();
    assert!(s.0.opened_from_checkpoint());
    let mut s = s;
    for k in 0..KEYS {
        let mut buf = [0u8; 32];
        let got = block_on(s.0.get(&key(k), &mut buf)).map(|o| o.map(|n| buf[..n].to_vec()));
        assert_eq!(got, Ok(model.get(&key(k)).cloned()), "key {k}");
    }
}
