//! The `open_checkpoint` target: region images as `open_image` takes them,
//! and an index checkpoint (FORMAT.md §11) in place of the script.
//!
//! Two checks. A checkpoint the store itself wrote (after a few writes on
//! the image, if it opens) gives a reopen that shows exactly what a reopen
//! without it shows. The input's own checkpoint bytes (with their checks
//! fixed up on request, so that the fuzzer gets past them) never make an
//! open panic or report a bug; when the open does not take them it is
//! exactly an open without them; when it does (the fuzzer matched the log's
//! prefix check), reads, writes and a reopen report no bug either (its
//! entries are trusted once its checks hold, so a crafted set may make
//! iteration name a key twice: not a finding).

use twinkv_core::format::checkpoint::CHECKPOINT_HEAD_LEN;
use twinkv_core::format::{key_hash, Layout};
use twinkv_core::{Config, Error, FixedIndex, RamError, RamRegion, Store};

use crate::image::{scratch_len, storage, ImageInput, PROBE_KEYS};
use crate::script::{exercise_reads, no_bug, Model};
use crate::INDEX;

/// Fix-up flags, the first byte of the input's script part: bit 0
/// recomputes the head check, bit 1 the entries check, bit 2 sets the
/// prefix check to region A's bytes from the data start to the position,
/// bit 3 to region B's.
pub const FIX_ALL: u8 = 0b0111;

type RamStore<'a> = Store<RamRegion<&'a mut [u8]>, FixedIndex<INDEX>, Vec<u8>>;

/// What an open shows: its error, or its stats and every probe key's answer.
#[derive(Debug, PartialEq)]
enum Shown {
    Refused(Error<RamError>),
    Opened(
        Box<twinkv_core::Stats>,
        Vec<Result<Option<Vec<u8>>, Error<RamError>>>,
    ),
}

fn show(opened: Result<RamStore<'_>, Error<RamError>>, what: &str) -> (Shown, bool) {
    match opened {
        Ok(mut s) => {
            let taken = s.opened_from_checkpoint();
            let answers = PROBE_KEYS
                .iter()
                .map(|k| {
                    let mut buf = vec![0u8; crate::script::GET_BUF];
                    s.get(k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()))
                })
                .collect();
            let mut st = s.stats();
            // Not replayed state: how the open got there.
            st.switches = 0;
            (Shown::Opened(Box::new(st), answers), taken)
        }
        Err(e) => {
            no_bug(&e, what);
            (Shown::Refused(e), false)
        }
    }
}

/// Opens copies of `a` and `b` without (`None`) or with a checkpoint.
fn open_copy(
    input: &ImageInput,
    config: Config,
    a: &[u8],
    b: &[u8],
    checkpoint: Option<&[u8]>,
) -> (Shown, bool) {
    let (ga, gb) = input.geometries();
    let (mut sa, mut sb) = (storage(ga, a), storage(gb, b));
    let ra = RamRegion::with_contents(&mut sa[..], ga).expect("valid geometry");
    let rb = RamRegion::with_contents(&mut sb[..], gb).expect("valid geometry");
    let scratch = vec![0u8; scratch_len(&config, input.w())];
    let index = FixedIndex::<INDEX>::new();
    let opened = match checkpoint {
        None => Store::open(ra, rb, index, scratch, config),
        Some(c) => Store::open_with_checkpoint(ra, rb, index, scratch, config, c),
    };
    show(opened, "open")
}

/// The input's checkpoint bytes with the fix-ups its first byte asks for.
pub fn fixed_checkpoint(input: &ImageInput, a: &[u8], b: &[u8], rest: &[u8]) -> Vec<u8> {
    let Some((&flags, bytes)) = rest.split_first() else {
        return Vec::new();
    };
    let mut c = bytes.to_vec();
    if c.len() < CHECKPOINT_HEAD_LEN + 4 {
        return c;
    }
    let region = if flags & 8 != 0 {
        Some(b)
    } else if flags & 4 != 0 {
        Some(a)
    } else {
        None
    };
    if let Some(region) = region {
        let p = u32::from_le_bytes([c[36], c[37], c[38], c[39]]) as usize;
        let d = Layout::new(input.w()).data_start() as usize;
        if let Some(prefix) = region.get(d..p) {
            c[44..48].copy_from_slice(&key_hash(prefix).to_le_bytes());
        }
    }
    if flags & 1 != 0 {
        let check = key_hash(&c[..72]);
        c[72..76].copy_from_slice(&check.to_le_bytes());
    }
    if flags & 2 != 0 {
        let n = c.len() - 4;
        let check = key_hash(&c[CHECKPOINT_HEAD_LEN..n]);
        c[n..].copy_from_slice(&check.to_le_bytes());
    }
    c
}

/// Every read a store offers (`for_each`, then `get` of what it yielded
/// and of the probe keys), failing only on a bug.
fn reads_report_no_bug(s: &mut RamStore<'_>) {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    if let Err(e) = s.for_each(|k, _| {
        seen.push(k.to_vec());
        true
    }) {
        no_bug(&e, "for_each after a fuzzed checkpoint");
    }
    let mut buf = vec![0u8; crate::script::GET_BUF];
    for k in seen.iter().map(Vec::as_slice).chain(PROBE_KEYS) {
        if let Err(e) = s.get(k, &mut buf) {
            no_bug(&e, "get after a fuzzed checkpoint");
        }
    }
}

/// Runs both checks on one input. Panics on a finding.
pub fn check(input: &ImageInput) {
    let config = input.config();
    let (data_a, data_b, rest) = input.parts();
    let (ga, gb) = input.geometries();

    // 1. The input's own checkpoint.
    let fuzzed = fixed_checkpoint(input, &data_a, &data_b, rest);
    let plain = open_copy(input, config, &data_a, &data_b, None).0;
    let (with, taken) = open_copy(input, config, &data_a, &data_b, Some(&fuzzed));
    if !taken {
        assert_eq!(with, plain, "a checkpoint not taken changed the open");
    } else {
        // Taken: entries the fuzzer chose, under a matching prefix check.
        // Nothing may panic or report a bug; the records stay checked.
        let (mut sa, mut sb) = (storage(ga, &data_a), storage(gb, &data_b));
        let ra = RamRegion::with_contents(&mut sa[..], ga).expect("valid geometry");
        let rb = RamRegion::with_contents(&mut sb[..], gb).expect("valid geometry");
        let scratch = vec![0u8; scratch_len(&config, input.w())];
        let index = FixedIndex::<INDEX>::new();
        if let Ok(mut s) = Store::open_with_checkpoint(ra, rb, index, scratch, config, &fuzzed) {
            // Entries are trusted once the checks hold (FORMAT.md §11): a
            // crafted set may name a key twice or miss one, so only bugs
            // are findings here, not `exercise_reads`' consistency.
            reads_report_no_bug(&mut s);
            for r in [
                s.set(b"k0", b"v"),
                s.remove(b"temp").map(|_| ()),
                s.compact(),
                s.set(b"volume", b"7"),
            ] {
                if let Err(e) = r {
                    no_bug(&e, "write after a fuzzed checkpoint");
                }
            }
            let (a, b, _, scratch) = s.into_parts();
            match Store::open(a, b, FixedIndex::<INDEX>::new(), scratch, config) {
                Ok(mut s) => exercise_reads(&mut s, &Model::default(), &PROBE_KEYS),
                Err(e) => no_bug(&e, "reopen after a fuzzed checkpoint"),
            }
        }
    }

    // 2. A checkpoint the store wrote after a few writes.
    let (mut sa, mut sb) = (storage(ga, &data_a), storage(gb, &data_b));
    let ra = RamRegion::with_contents(&mut sa[..], ga).expect("valid geometry");
    let rb = RamRegion::with_contents(&mut sb[..], gb).expect("valid geometry");
    let scratch = vec![0u8; scratch_len(&config, input.w())];
    let Ok(mut s) = Store::open(ra, rb, FixedIndex::<INDEX>::new(), scratch, config) else {
        return;
    };
    let _ = s.set(b"k0", b"checkpoint");
    let _ = s.remove(b"a");
    let written = s.checkpoint_len().and_then(|len| {
        let mut c = vec![0u8; len];
        match s.write_checkpoint(&mut c) {
            Ok(n) => n.map(|n| {
                assert_eq!(n, len, "checkpoint length");
                c
            }),
            Err(e) => {
                no_bug(&e, "write_checkpoint");
                None
            }
        }
    });
    let _ = s.set(b"temp", b"after the checkpoint");
    drop(s);
    let (a, b) = (
        sa[..ga.size as usize].to_vec(),
        sb[..gb.size as usize].to_vec(),
    );
    if let Some(c) = written {
        let plain = open_copy(input, config, &a, &b, None).0;
        let (with, _) = open_copy(input, config, &a, &b, Some(&c));
        assert_eq!(with, plain, "a checkpoint the store wrote changed the open");
    }
}
