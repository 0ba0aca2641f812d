//! Writes the committed seed corpora, `corpus/<target>/<name>`.
//!
//! ```text
//! cd fuzz && cargo run --example gen_corpus            # into fuzz/corpus/
//! cd fuzz && cargo run --example gen_corpus -- DIR     # elsewhere
//! ```
//!
//! Deterministic: the same core produces the same files. Every seed is
//! checked to decode back to the input it was built from, and is run once
//! through its target's checks (a panic here is a finding, as in the fuzzer).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use twinkv_core::format::record::{self, Kind};
use twinkv_core::format::{key_hash, Layout, Marker, RegionHeader, Seal};
use twinkv_core::{
    Config, Error, FixedIndex, Geometry, MappedRegion, RamError, RamRegion, RegionId, Store,
    TearMode, WRITE_UNITS,
};
use twinkv_fuzz::image::{self, ImageInput, ERASE_UNIT};
use twinkv_fuzz::ops::{self, Cut, Fault, OpsInput, PowerInput, Report, Setup};
use twinkv_fuzz::record::RecordInput;
use twinkv_fuzz::script::{self, Step, Value};
use twinkv_fuzz::{Bytes, INDEX};

const ID: u64 = 0x0123_4567_89AB_CDEF;

fn cfg() -> Config {
    Config::new(ID)
        .with_limits(16, 64)
        .with_ratios(6000, 9000)
        .adopting_store_id()
}

fn geo(size: usize, w: u32) -> Geometry {
    Geometry {
        size: size as u32,
        read_unit: 1,
        write_unit: w,
        erase_unit: ERASE_UNIT,
    }
}

fn v(n: u8, fill: u8) -> Value {
    Value { n, fill }
}

fn set(k: &str, n: u8, fill: u8) -> Step {
    Step::Set(k.as_bytes().to_vec(), v(n, fill))
}

/// A workload that fills 1–2 KiB regions enough to switch a few times.
fn workload() -> Vec<Step> {
    let mut s = Vec::new();
    for i in 0..60u8 {
        s.push(set(&format!("k{}", i % 6), 8 + i % 24, i));
        if i % 7 == 3 {
            s.push(Step::Delete(format!("k{}", (i + 2) % 6).into_bytes()));
        }
        if i % 9 == 4 {
            s.push(Step::Apply(vec![
                (b"temp".to_vec(), Some(v(4, b'2'))),
                (b"k1".to_vec(), None),
                (b"volume".to_vec(), Some(v(1, b'7'))),
            ]));
        }
    }
    s.extend([
        Step::Get(b"k0".to_vec()),
        Step::Reopen,
        Step::Compact,
        Step::Sync,
        set("a", 3, b'x'),
    ]);
    s
}

/// A short follow-up for seeds that start from a real image.
fn followup() -> Vec<Step> {
    vec![
        Step::Get(b"k2".to_vec()),
        set("k0", 5, b'n'),
        Step::Delete(b"temp".to_vec()),
        Step::Reopen,
        set("new", 40, 1),
        Step::Repair,
        Step::Compact,
        Step::Get(b"k0".to_vec()),
    ]
}

struct Out {
    dir: PathBuf,
    written: BTreeMap<String, usize>,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(name), bytes).expect("write seed");
        *self.written.entry(target.to_string()).or_default() += 1;
    }

    /// Writes an `open_image` seed and returns what checking it left.
    fn image(&mut self, name: &str, input: &ImageInput) -> image::Outcome {
        let bytes = input.to_bytes();
        assert_eq!(
            ImageInput::from_bytes(&bytes).as_ref(),
            Some(input),
            "{name}: seed does not decode back"
        );
        let outcome = image::check(input);
        self.put("open_image", name, &bytes);
        println!(
            "open_image/{name}: {} bytes, {}",
            bytes.len(),
            if outcome.opened { "opens" } else { "refused" }
        );
        outcome
    }

    /// An `open_image` seed from region data, the generator's config and a
    /// script.
    fn images(&mut self, name: &str, w: u32, a: &[u8], b: &[u8], steps: &[Step]) -> image::Outcome {
        let input = ImageInput::new(w, a, b, cfg(), &script::encode(steps));
        self.image(name, &input)
    }

    /// As `images`, without check fix-ups: torn markers stay torn.
    fn torn_images(
        &mut self,
        name: &str,
        w: u32,
        a: &[u8],
        b: &[u8],
        steps: &[Step],
    ) -> image::Outcome {
        let mut input = ImageInput::new(w, a, b, cfg(), &script::encode(steps));
        input.fixup = 0;
        self.image(name, &input)
    }

    /// Writes an `ops` seed and returns what checking it did.
    fn ops(&mut self, name: &str, input: &OpsInput) -> Report {
        let bytes = input.to_bytes();
        assert_eq!(
            OpsInput::from_bytes(&bytes).as_ref(),
            Some(input),
            "{name}: seed does not decode back"
        );
        let report = ops::check_ops(input);
        assert!(report.ran, "{name}: config does not fit");
        self.put("ops", name, &bytes);
        println!("ops/{name}: {} bytes, {report:?}", bytes.len());
        report
    }

    /// Writes an `ops` seed with a fault, unless its session runs into an
    /// open finding (README.md): those are regressions, not seeds.
    fn try_ops(&mut self, name: &str, input: &OpsInput) {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let passes = std::panic::catch_unwind(|| ops::check_ops(input)).is_ok();
        std::panic::set_hook(quiet);
        if passes {
            self.ops(name, input);
        } else {
            println!("ops/{name}: skipped (an open finding)");
        }
    }

    /// As [`Out::try_ops`], for `ops_with_power_loss`.
    fn try_power(&mut self, name: &str, input: &PowerInput) {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let passes = std::panic::catch_unwind(|| ops::check_power(input)).is_ok();
        std::panic::set_hook(quiet);
        if passes {
            self.power(name, input);
        } else {
            println!("ops_with_power_loss/{name}: skipped (an open finding)");
        }
    }

    /// Writes an `ops_with_power_loss` seed and returns what checking it did.
    fn power(&mut self, name: &str, input: &PowerInput) -> Report {
        let bytes = input.to_bytes();
        assert_eq!(
            PowerInput::from_bytes(&bytes).as_ref(),
            Some(input),
            "{name}: seed does not decode back"
        );
        let report = ops::check_power(input);
        assert!(report.ran, "{name}: config does not fit");
        self.put("ops_with_power_loss", name, &bytes);
        println!(
            "ops_with_power_loss/{name}: {} bytes, {report:?}",
            bytes.len()
        );
        report
    }

    fn record(&mut self, name: &str, input: &RecordInput) {
        let bytes = input.to_bytes();
        assert_eq!(
            RecordInput::from_bytes(&bytes).as_ref(),
            Some(input),
            "{name}: seed does not decode back"
        );
        twinkv_fuzz::record::check(input);
        self.put("record_roundtrip", name, &bytes);
    }
}

type CoreStore<'r, 's> = Store<&'r mut RamRegion<&'s mut [u8]>, FixedIndex<INDEX>, &'r mut [u8]>;

/// Opens the images with core directly, arms a power cut `steps` units into
/// region A or B (`on_a`), runs `action` and returns the images the cut left.
fn cut_images(
    w: u32,
    (a, b): (&[u8], &[u8]),
    on_a: bool,
    steps: u64,
    mode: TearMode,
    action: &dyn Fn(&mut CoreStore<'_, '_>) -> Result<(), Error<RamError>>,
) -> (Vec<u8>, Vec<u8>, bool) {
    let (ga, gb) = (geo(a.len(), w), geo(b.len(), w));
    let (mut sa, mut sb) = (image::storage(ga, a), image::storage(gb, b));
    let mut ra = RamRegion::with_contents(&mut sa[..], ga).expect("geometry");
    let mut rb = RamRegion::with_contents(&mut sb[..], gb).expect("geometry");
    let mut scratch = vec![0u8; image::scratch_len(&cfg(), w)];
    if on_a {
        ra.cut_power_after(steps, mode, steps ^ 0x5EED);
    } else {
        rb.cut_power_after(steps, mode, steps ^ 0x5EED);
    }
    let result = {
        let mut s = Store::open(
            &mut ra,
            &mut rb,
            FixedIndex::<INDEX>::new(),
            &mut scratch[..],
            cfg(),
        )
        .expect("open before the cut");
        action(&mut s)
    };
    let cut = ra.power_lost() || rb.power_lost();
    assert!(cut || result.is_ok(), "{result:?}");
    ra.restore_power();
    rb.restore_power();
    (ra.as_bytes().to_vec(), rb.as_bytes().to_vec(), cut)
}

/// Which region is active in these images.
fn active(w: u32, a: &[u8], b: &[u8]) -> RegionId {
    let (ga, gb) = (geo(a.len(), w), geo(b.len(), w));
    let (mut sa, mut sb) = (image::storage(ga, a), image::storage(gb, b));
    let ra = RamRegion::with_contents(&mut sa[..], ga).expect("geometry");
    let rb = RamRegion::with_contents(&mut sb[..], gb).expect("geometry");
    let mut scratch = vec![0u8; image::scratch_len(&cfg(), w)];
    let s = Store::open_read_only(ra, rb, FixedIndex::<INDEX>::new(), &mut scratch[..], cfg())
        .expect("open");
    s.stats().active
}

/// `open_checkpoint` seeds: per write unit, the images of a store written
/// after it wrote a checkpoint, with that checkpoint as it was, with an
/// entry's offset moved (checks fixed up: taken, with a wrong entry), and
/// cut short.
fn open_checkpoint_seeds(out: &mut Out) {
    use twinkv_fuzz::checkpoint::{self, FIX_ALL};
    for w in WRITE_UNITS {
        let (ga, gb) = (geo(1024, w), geo(2048, w));
        let (mut sa, mut sb) = (
            image::storage(ga, &[0xFF; 1024]),
            image::storage(gb, &[0xFF; 2048]),
        );
        let ckpt = {
            let ra = RamRegion::with_contents(&mut sa[..], ga).expect("geometry");
            let rb = RamRegion::with_contents(&mut sb[..], gb).expect("geometry");
            let scratch = vec![0u8; image::scratch_len(&cfg(), w)];
            let mut s =
                Store::open(ra, rb, FixedIndex::<INDEX>::new(), scratch, cfg()).expect("open");
            let put = |s: &mut Store<_, _, _>, i: u8| {
                let key = format!("k{}", i % 6);
                s.set(key.as_bytes(), &vec![i; 4 + usize::from(i % 12)])
                    .expect("set");
            };
            for i in 0..24 {
                put(&mut s, i);
            }
            s.remove(b"k3").expect("remove");
            let mut c = vec![0u8; s.checkpoint_len().expect("a checkpoint")];
            s.write_checkpoint(&mut c).expect("write").expect("written");
            for i in 24..30 {
                put(&mut s, i);
            }
            c
        };
        let (a, b) = (sa[..1024].to_vec(), sb[..2048].to_vec());
        let mut moved = ckpt.clone();
        let first = twinkv_core::format::checkpoint::CHECKPOINT_HEAD_LEN + 4;
        moved[first] = moved[first].wrapping_add(4);
        for (name, flags, bytes) in [
            ("as-written", 0, &ckpt[..]),
            ("entry-moved", FIX_ALL & 0b11, &moved[..]),
            ("cut-short", FIX_ALL, &ckpt[..ckpt.len() / 2]),
        ] {
            let mut rest = vec![flags];
            rest.extend_from_slice(bytes);
            let input = ImageInput::new(w, &a, &b, cfg(), &rest);
            let encoded = input.to_bytes();
            assert_eq!(ImageInput::from_bytes(&encoded).as_ref(), Some(&input));
            checkpoint::check(&input);
            let name = format!("w{w}-{name}");
            out.put("open_checkpoint", &name, &encoded);
            println!("open_checkpoint/{name}: {} bytes", encoded.len());
        }
    }
}

fn open_image_seeds(out: &mut Out) {
    let work = workload();
    for w in WRITE_UNITS {
        // Empty storage and a workload: the fuzzer replays real histories.
        let (a0, b0) = (vec![0xFF; 1024], vec![0xFF; 2048]);
        let o = out.images(&format!("w{w}-empty-workload"), w, &a0, &b0, &work);
        assert!(o.opened);
        // The images that workload left, with a follow-up.
        let (a1, b1) = (o.a, o.b);
        assert!(
            out.images(&format!("w{w}-worked"), w, &a1, &b1, &followup())
                .opened
        );

        if w != 4 {
            continue;
        }
        // Power cut in the middle of a compaction, at several points of the
        // target region's program sequence, and in the old region's markers.
        let compact = |s: &mut CoreStore<'_, '_>| s.compact();
        let src_is_a = active(w, &a1, &b1) == RegionId::A;
        let (ac, bc, cut) = cut_images(
            w,
            (&a1, &b1),
            !src_is_a,
            u64::MAX,
            TearMode::Subset,
            &compact,
        );
        assert!(!cut);
        // The compaction completed but "superseded" never reached the old
        // region (a cut between steps 7 and 8 of FORMAT.md §7): open finishes
        // the switch, read-only open reports it unfinished.
        let (mut a6, mut b6) = (ac, bc);
        let old = if src_is_a { &mut a6 } else { &mut b6 };
        let l = Layout::new(w);
        old[l.superseded() as usize..(l.superseded() + l.marker_slot) as usize].fill(0xFF);
        out.images("w4-unfinished-switch", w, &a6, &b6, &followup());
        let total = {
            // Steps the target takes in an uncut compaction.
            let (ga, gb) = (geo(a1.len(), w), geo(b1.len(), w));
            let (mut sa, mut sb) = (image::storage(ga, &a1), image::storage(gb, &b1));
            let mut ra = RamRegion::with_contents(&mut sa[..], ga).expect("geometry");
            let mut rb = RamRegion::with_contents(&mut sb[..], gb).expect("geometry");
            let mut scratch = vec![0u8; image::scratch_len(&cfg(), w)];
            Store::open(
                &mut ra,
                &mut rb,
                FixedIndex::<INDEX>::new(),
                &mut scratch[..],
                cfg(),
            )
            .expect("open")
            .compact()
            .expect("compact");
            if src_is_a {
                rb.steps_taken()
            } else {
                ra.steps_taken()
            }
        };
        for (i, k) in [0, total / 3, total / 2, total - 4, total - 1]
            .into_iter()
            .enumerate()
        {
            for (j, mode) in [TearMode::Prefix, TearMode::RandomBits]
                .into_iter()
                .enumerate()
            {
                let (a, b, cut) = cut_images(w, (&a1, &b1), !src_is_a, k, mode, &compact);
                assert!(cut);
                out.torn_images(&format!("w4-cut-target-{i}-{j}"), w, &a, &b, &followup());
            }
        }
        // Old region: 0 → torn "switching"; one marker in → torn "superseded".
        let marker_units = u64::from(Layout::new(w).marker_slot / w);
        for (i, k) in [0, marker_units].into_iter().enumerate() {
            let (a, b, cut) = cut_images(w, (&a1, &b1), src_is_a, k, TearMode::Subset, &compact);
            assert!(cut);
            out.torn_images(&format!("w4-cut-source-{i}"), w, &a, &b, &followup());
        }
        // A cut inside an atomic batch appended to the log.
        let batch = |s: &mut CoreStore<'_, '_>| {
            s.apply(&[
                twinkv_core::Op::Set(b"b1", b"one"),
                twinkv_core::Op::Set(b"b2", b"two"),
            ])
        };
        let active_a = src_is_a;
        for (i, k) in [3u64, 9].into_iter().enumerate() {
            let (a, b, cut) = cut_images(w, (&a1, &b1), active_a, k, TearMode::Subset, &batch);
            if cut {
                out.torn_images(&format!("w4-cut-batch-{i}"), w, &a, &b, &followup());
            }
        }

        // Mid-log damage: a bit flipped in the active region's first record.
        let d = Layout::new(w).data_start() as usize;
        let (mut a2, mut b2) = (a1.clone(), b1.clone());
        if src_is_a {
            a2[d + 9] ^= 0x10;
        } else {
            b2[d + 9] ^= 0x10;
        }
        out.images("w4-damaged-record", w, &a2, &b2, &followup());

        // Partner region holding foreign bytes: refused (no "switching"),
        // unless the active log's newest erased record says erase ahead is
        // erasing the partner (FORMAT.md §7.3, §8). The image check judges
        // which applies; the generator only records the image.
        let (mut a3, mut b3) = (a1.clone(), b1.clone());
        let partner = if src_is_a { &mut b3 } else { &mut a3 };
        for (i, x) in partner.iter_mut().enumerate() {
            *x = (i * 7 + 3) as u8;
        }
        out.images("w4-partner-unrecognised", w, &a3, &b3, &followup());

        // Two stores' regions: refused.
        let other = Config::new(0x42)
            .with_limits(16, 64)
            .with_ratios(6000, 9000);
        let foreign = ImageInput::new(w, &a0, &b0, other, &script::encode(&work[..6]));
        let fo = image::check(&foreign);
        let (mut a4, mut b4) = (a1.clone(), b1.clone());
        if src_is_a {
            b4 = fo.a.clone();
            b4.resize(b1.len(), 0xFF);
        } else {
            a4 = fo.a.clone();
            a4.resize(a1.len(), 0xFF);
        }
        out.images("w4-foreign-partner", w, &a4, &b4, &followup());

        // A header of a future format version.
        let mut a5 = a1.clone();
        let mut b5 = b1.clone();
        let act = if src_is_a { &mut a5 } else { &mut b5 };
        act[4] = 2;
        let c = key_hash(&act[..44]).to_le_bytes();
        act[44..48].copy_from_slice(&c);
        let o = out.images("w4-future-version", w, &a5, &b5, &followup());
        assert!(!o.opened);

        // The right images opened with other limits: ConfigMismatch.
        let mut mismatch = ImageInput::new(w, &a1, &b1, cfg(), &script::encode(&followup()));
        mismatch.max_value_len = 128;
        assert!(!out.image("w4-config-mismatch", &mismatch).opened);
    }

    // Regions of different sizes at the limits of the fuzzed geometries.
    let (a, b) = (vec![0xFF; 4096], vec![0xFF; 1024]);
    out.images("w32-4k-1k-workload", 32, &a, &b, &work);
    let (a, b) = (vec![0xFF; 1024], vec![0xFF; 1024]);
    let mut clear = work.clone();
    clear.extend([Step::Clear, set("after", 2, 0), Step::Reopen]);
    out.images("w1-1k-clear", 1, &a, &b, &clear);
}

fn record_seeds(out: &mut Out) {
    let seal = Seal {
        store_id: ID,
        generation: 7,
    };
    let base = RecordInput {
        kind: 0, // set
        hash: 0,
        write_unit: 2, // W = 4
        store_id: seal.store_id,
        generation: seal.generation,
        key_len: 4,
        flip: 0,
        max_key: 63,
        max_value: 4096,
        data: Bytes(b"temp21.5".to_vec()),
    };
    out.record(
        "set-temp",
        &RecordInput {
            hash: (key_hash(b"temp") >> 24) as u8,
            ..base.clone()
        },
    );
    out.record(
        "delete-temp",
        &RecordInput {
            kind: 1,
            data: Bytes(b"temp".to_vec()),
            ..base.clone()
        },
    );
    let mut long = vec![b'k'; 70];
    long.push(0);
    out.record(
        "set-long-key",
        &RecordInput {
            key_len: 70,
            flip: 300,
            data: Bytes(long),
            ..base.clone()
        },
    );
    let big = vec![0x5Au8; 9000];
    out.record(
        "set-long-value",
        &RecordInput {
            key_len: 1,
            flip: 7000,
            data: Bytes(big),
            ..base.clone()
        },
    );
    for (i, w) in WRITE_UNITS.into_iter().enumerate() {
        let data: Vec<u8> = (0..32u8).collect();
        out.record(
            &format!("w{w}-key16-value16"),
            &RecordInput {
                write_unit: i as u8,
                key_len: 16,
                flip: 100 + i as u16,
                data: Bytes(data),
                ..base.clone()
            },
        );
    }
    // Raw bytes that are real structures: a record, a region header, markers.
    let mut rec = vec![0u8; 64];
    let n = record::encode(&mut rec, seal, Kind::Set, 0x5A, b"temp", b"21.5", 4).expect("fits");
    rec.truncate(n as usize);
    out.record(
        "raw-record",
        &RecordInput {
            key_len: 0,
            data: Bytes(rec),
            ..base.clone()
        },
    );
    let header = RegionHeader {
        store_id: ID,
        generation: 7,
        region_size: 4096,
        erase_unit: 512,
        write_unit: 4,
        read_unit: 1,
        max_key_len: 63,
        max_value_len: 4096,
        high_water_bp: 8000,
        max_fill_bp: 9000,
    };
    let mut data = header.encode().to_vec();
    data.extend_from_slice(&Marker::Commit.encode(seal, 0x154));
    out.record(
        "raw-header-commit",
        &RecordInput {
            key_len: 0,
            data: Bytes(data),
            ..base.clone()
        },
    );
    let mut data = vec![0xFF; 64];
    data[..12].copy_from_slice(&Marker::Switching.encode(seal, 0));
    out.record(
        "raw-switching",
        &RecordInput {
            key_len: 0,
            data: Bytes(data),
            ..base.clone()
        },
    );
    out.record(
        "raw-erased",
        &RecordInput {
            key_len: 0,
            data: Bytes(vec![0xFF; 64]),
            ..base.clone()
        },
    );
    for (i, kind) in [2u8, 3, 4, 5, 6, 8].into_iter().enumerate() {
        let value: Vec<u8> = (0..16).collect();
        out.record(
            &format!("kind-{i}"),
            &RecordInput {
                kind,
                key_len: 0,
                data: Bytes(value),
                ..base.clone()
            },
        );
    }
}

/// An `ops` setup: write unit `w`, region sizes in bytes, max key length,
/// `ops::VALUE_LIMITS` index, `ops::RATIOS` index, flags.
fn setup(w: u32, a: u32, b: u32, key: u8, value: u8, ratios: u8, flags: u8) -> Setup {
    Setup {
        write_unit: image::write_unit_code(w),
        size_a: image::size_code(a),
        size_b: image::size_code(b),
        limits: (key - 1) | (value << 4),
        ratios,
        flags,
    }
}

/// A 64-step script over eight keys: sets of growing values, overwrites,
/// deletes (of present and absent keys), gets, batches (with a key set and
/// deleted in the same batch), a sync, a compaction, a reopen, a repair, a
/// clear, and refused writes (empty key, 15-byte key, oversized value).
fn ops_workload() -> Vec<Step> {
    let k = |i: u8| format!("k{}", i % 8).into_bytes();
    let mut s = Vec::new();
    for i in 0..40u8 {
        s.push(Step::Set(k(i), v(4 + (i % 8) * 5, i)));
        match i % 10 {
            2 => s.push(Step::Delete(k(i + 3))),
            4 => s.push(Step::Apply(vec![
                (b"temp".to_vec(), Some(v(4, b'2'))),
                (k(i + 1), None),
                (b"temp".to_vec(), None),
                (k(i + 2), Some(v(12, i))),
            ])),
            6 => s.push(Step::Get(k(i + 5))),
            8 => s.push(
                [Step::Sync, Step::Compact, Step::Reopen, Step::Repair][usize::from(i / 10)]
                    .clone(),
            ),
            _ => {}
        }
    }
    s.extend([
        Step::Set(Vec::new(), v(1, 0)),
        Step::Set(b"fifteen-bytes!!".to_vec(), v(1, 0)),
        Step::Set(b"big".to_vec(), v(128 + 100, 0)),
        Step::Delete(b"absent".to_vec()),
        Step::Clear,
        set("after", 3, b'c'),
        Step::Reopen,
        Step::Get(b"k1".to_vec()),
    ]);
    assert!(s.len() <= script::MAX_STEPS, "{} steps", s.len());
    s
}

/// Fills an index of `ops::SMALL_INDEX` entries, then writes that must be
/// refused (`IndexFull`) or not (overwrites, a batch that deletes a key and
/// adds another, deletes), across switches. (The batch adding a key before
/// deleting another is finding `regressions/ops/batch-adds-before-delete-index-full`.)
fn index_full_workload() -> Vec<Step> {
    let k = |i: usize| format!("i{i}").into_bytes();
    let mut s = Vec::new();
    for i in 0..ops::SMALL_INDEX + 2 {
        s.push(Step::Set(k(i), v(6, i as u8)));
    }
    s.extend([
        Step::Set(k(0), v(9, 1)),
        Step::Apply(vec![(k(1), None), (k(21), Some(v(3, 4)))]),
        Step::Apply(vec![
            (k(22), Some(v(3, 5))),
            (k(23), Some(v(3, 6))),
            (k(2), None),
        ]),
        Step::Delete(k(3)),
        Step::Set(k(24), v(2, 7)),
        Step::Reopen,
        Step::Set(k(25), v(2, 8)),
        Step::Compact,
        Step::Delete(k(4)),
        Step::Delete(k(5)),
        Step::Apply(vec![(k(26), Some(v(1, 1))), (k(27), Some(v(1, 2)))]),
    ]);
    for i in 0..20 {
        s.push(Step::Set(k(6 + i % 3), v(10 + i as u8, i as u8)));
    }
    s
}

/// Large values on a region with a low fill limit: `Full`, then deletes
/// and shrinking overwrites make room again.
fn full_workload() -> Vec<Step> {
    let k = |i: usize| format!("f{i}").into_bytes();
    let mut s = Vec::new();
    for i in 0..10 {
        s.push(Step::Set(k(i), v(60, i as u8)));
    }
    s.extend([
        Step::Set(k(0), v(64, 9)),
        Step::Set(k(1), v(2, 9)),
        Step::Set(k(11), v(40, 1)),
        Step::Delete(k(2)),
        Step::Delete(k(3)),
        Step::Apply(vec![(k(12), Some(v(60, 3))), (k(4), None)]),
        Step::Apply(vec![(k(13), Some(v(60, 3))), (k(14), Some(v(60, 3)))]),
        Step::Reopen,
        Step::Set(k(15), v(30, 1)),
        Step::Compact,
    ]);
    for i in 0..30 {
        s.push(Step::Set(k(i % 5), v(20 + (i * 3) as u8 % 44, i as u8)));
    }
    s
}

fn ops_seeds(out: &mut Out) {
    let wl = script::encode(&ops_workload());
    let idx = script::encode(&index_full_workload());
    let full = script::encode(&full_workload());
    let mut seeds: Vec<(String, Setup, &[u8])> = Vec::new();
    for w in WRITE_UNITS {
        seeds.push((
            format!("w{w}-1k-workload"),
            setup(w, 1024, 1024, 16, 3, 1, 0),
            &wl,
        ));
    }
    seeds.extend([
        (
            "w4-2k-1k-workload".into(),
            setup(4, 2048, 1024, 16, 3, 0, 0),
            &wl[..],
        ),
        (
            "w8-4k-workload".into(),
            setup(8, 4096, 4096, 8, 5, 3, 0),
            &wl[..],
        ),
        (
            "w4-1k-workload-not-in-order".into(),
            setup(4, 1024, 1024, 16, 3, 1, 2),
            &wl[..],
        ),
        (
            "w1-1k-workload-not-in-order".into(),
            setup(1, 1024, 1024, 16, 2, 6, 2),
            &wl[..],
        ),
        (
            "w16-1k-workload-small-index".into(),
            setup(16, 1024, 1024, 16, 3, 0, 1),
            &wl[..],
        ),
        (
            "w4-1k-index-full".into(),
            setup(4, 1024, 1024, 16, 3, 1, 1),
            &idx[..],
        ),
        (
            "w32-2k-index-full".into(),
            setup(32, 2048, 2048, 16, 3, 1, 3),
            &idx[..],
        ),
        (
            "w4-1k-full".into(),
            setup(4, 1024, 1024, 16, 3, 4, 0),
            &full[..],
        ),
        (
            "w2-1k-full-not-in-order".into(),
            setup(2, 1024, 1024, 16, 3, 7, 2),
            &full[..],
        ),
    ]);
    for (name, setup, script) in &seeds {
        let input = OpsInput {
            setup: *setup,
            fault: None,
            script: Bytes(script.to_vec()),
        };
        let report = out.ops(name, &input);
        if FAULTED.contains(&name.as_str()) {
            for (fname, fault) in faults() {
                let mut input = input.clone();
                input.setup.flags |= 4;
                input.fault = Some(fault);
                out.try_ops(&format!("{name}-{fname}"), &input);
            }
        }
        if name.contains("full") {
            assert!(report.refused_full > 0, "{name}: nothing refused");
        }
        // ops_with_power_loss: the same sessions cut at a quarter, half and
        // three quarters of their steps, each cut followed by a second one
        // soon after the reboot (during recovery or the first writes), in
        // each tear mode.
        if !(name.contains("workload") || name.contains("index-full")) || name.contains("small") {
            continue;
        }
        for (i, frac) in [1u64, 2, 3].into_iter().enumerate() {
            let at = u16::try_from(report.steps * frac / 4).expect("steps fit u16");
            let input = PowerInput {
                setup: *setup,
                cuts: [
                    Cut {
                        fuel: at,
                        how: i as u8,
                    },
                    Cut {
                        fuel: [3, 40, 150][i],
                        how: i as u8 + 1,
                    },
                    if i == 2 {
                        Cut { fuel: 7, how: 2 }
                    } else {
                        Cut::NONE
                    },
                ],
                fault: None,
                script: Bytes(script.to_vec()),
            };
            let r = out.power(&format!("{name}-cut-{frac}q"), &input);
            assert!(r.cuts > 0, "{name}: no cut fired");
            if frac == 2 && FAULTED.contains(&name.as_str()) {
                for (fname, fault) in faults() {
                    let mut input = input.clone();
                    input.setup.flags |= 4;
                    input.fault = Some(fault);
                    out.try_power(&format!("{name}-cut-{frac}q-{fname}"), &input);
                }
            }
        }
    }
}

/// Sessions that get fault variants (`-fault-*`).
const FAULTED: [&str; 3] = [
    "w4-1k-workload",
    "w1-1k-workload-not-in-order",
    "w32-1k-workload",
];

/// Faults between operations: each kind, mid-session near the log end,
/// before the final reopen near the log end, and mid-session in the
/// inactive region.
fn faults() -> Vec<(String, Fault)> {
    let kinds = ["flip", "zero", "ff", "zero-unit", "erase-unit"];
    let mut out = Vec::new();
    for (k, kind) in kinds.iter().enumerate() {
        for (place, at, what) in [
            ("mid-end", 32, 16),
            ("last-end", 255, 16),
            ("mid-other", 20, 1),
        ] {
            out.push((
                format!("fault-{kind}-{place}"),
                Fault {
                    at,
                    what: what | (k as u8) << 1,
                    offset: 3 + 29 * k as u16,
                    bit: k as u8 + 1,
                },
            ));
        }
    }
    out
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let mut out = Out {
        dir,
        written: BTreeMap::new(),
    };
    open_image_seeds(&mut out);
    open_checkpoint_seeds(&mut out);
    record_seeds(&mut out);
    ops_seeds(&mut out);
    for (target, n) in &out.written {
        println!("{target}: {n} seeds in {}", out.dir.join(target).display());
    }
}
