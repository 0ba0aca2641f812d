//! Operation scripts run against an open store, checked against a model of
//! the writes acknowledged in the same session.
//!
//! Script byte format (parsing stops at the first incomplete step, and after
//! [`MAX_STEPS`] steps):
//!
//! | step | bytes |
//! |---|---|
//! | `t % 9 == 0` set | `t`, key, value |
//! | `1` delete | `t`, key |
//! | `2` get | `t`, key |
//! | `3` apply (atomic batch) | `t`, `c` (`1 + c % 4` ops), then per op: `o` (`o & 1`: delete, else set), key, value if set |
//! | `4` compact | `t` |
//! | `5` clear | `t` |
//! | `6` sync | `t` |
//! | `7` reopen | `t` |
//! | `8` repair (compact without feature `repair`) | `t` |
//!
//! A key is `l` then `l % 16` bytes. A value is `n`, `f`: `len = n` if
//! `n < 128`, else `(n - 128) * 32`; byte `i` is `f + i` (wrapping).

use std::collections::BTreeMap;

use twinkv_core::{Error, FixedIndex, Index, Op, RamError, Region, Store};

/// Steps run at most per script.
pub const MAX_STEPS: usize = 64;

/// A value as the script encodes it: length code and first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value {
    /// Length code `n` (see the module docs).
    pub n: u8,
    /// First byte.
    pub fill: u8,
}

impl Value {
    /// The value's bytes.
    pub fn bytes(self) -> Vec<u8> {
        let len = if self.n < 128 {
            usize::from(self.n)
        } else {
            usize::from(self.n - 128) * 32
        };
        (0..len).map(|i| self.fill.wrapping_add(i as u8)).collect()
    }
}

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `set(key, value)`.
    Set(Vec<u8>, Value),
    /// `delete(key)`.
    Delete(Vec<u8>),
    /// `get(key)`.
    Get(Vec<u8>),
    /// `apply(ops)`: `None` deletes.
    Apply(Vec<(Vec<u8>, Option<Value>)>),
    /// `compact()`.
    Compact,
    /// `clear()`.
    Clear,
    /// `sync()`.
    Sync,
    /// Drop the store and open it again on the same regions.
    Reopen,
    /// `repair()`.
    Repair,
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn key(&mut self) -> Option<Vec<u8>> {
        let l = usize::from(self.byte()? % 16);
        if self.0.len() < l {
            return None;
        }
        let (k, rest) = self.0.split_at(l);
        self.0 = rest;
        Some(k.to_vec())
    }
    fn value(&mut self) -> Option<Value> {
        Some(Value {
            n: self.byte()?,
            fill: self.byte()?,
        })
    }
}

/// Parses a script (see the module docs).
pub fn parse(bytes: &[u8]) -> Vec<Step> {
    let mut r = Reader(bytes);
    let mut steps = Vec::new();
    while steps.len() < MAX_STEPS {
        let Some(step) = parse_step(&mut r) else {
            break;
        };
        steps.push(step);
    }
    steps
}

fn parse_step(r: &mut Reader<'_>) -> Option<Step> {
    Some(match r.byte()? % 9 {
        0 => Step::Set(r.key()?, r.value()?),
        1 => Step::Delete(r.key()?),
        2 => Step::Get(r.key()?),
        3 => {
            let n = 1 + usize::from(r.byte()? % 4);
            let mut ops = Vec::with_capacity(n);
            for _ in 0..n {
                let delete = r.byte()? & 1 == 1;
                let key = r.key()?;
                let value = if delete { None } else { Some(r.value()?) };
                ops.push((key, value));
            }
            Step::Apply(ops)
        }
        4 => Step::Compact,
        5 => Step::Clear,
        6 => Step::Sync,
        7 => Step::Reopen,
        // `repair` is fuzzed unless the `repair` feature is turned off.
        _ if cfg!(feature = "repair") => Step::Repair,
        _ => Step::Compact,
    })
}

/// Encodes steps so that [`parse`] returns them (keys longer than 15 bytes
/// are not representable and panic).
pub fn encode(steps: &[Step]) -> Vec<u8> {
    fn key(out: &mut Vec<u8>, k: &[u8]) {
        assert!(k.len() < 16, "script keys are at most 15 bytes");
        out.push(k.len() as u8);
        out.extend_from_slice(k);
    }
    fn value(out: &mut Vec<u8>, v: Value) {
        out.extend_from_slice(&[v.n, v.fill]);
    }
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::Set(k, v) => {
                out.push(0);
                key(&mut out, k);
                value(&mut out, *v);
            }
            Step::Delete(k) => {
                out.push(1);
                key(&mut out, k);
            }
            Step::Get(k) => {
                out.push(2);
                key(&mut out, k);
            }
            Step::Apply(ops) => {
                assert!((1..=4).contains(&ops.len()));
                out.extend_from_slice(&[3, ops.len() as u8 - 1]);
                for (k, v) in ops {
                    out.push(u8::from(v.is_none()));
                    key(&mut out, k);
                    if let Some(v) = v {
                        value(&mut out, *v);
                    }
                }
            }
            Step::Compact => out.push(4),
            Step::Clear => out.push(5),
            Step::Sync => out.push(6),
            Step::Reopen => out.push(7),
            Step::Repair => out.push(8),
        }
    }
    out
}

/// Panics on the errors that are twinkv bugs whatever the input: a region
/// error from a fault-free [`RamRegion`](twinkv_core::RamRegion) means core
/// broke the region contract (misaligned, out of bounds, programming over
/// data), and `LogicBug` is by definition a bug.
pub fn no_bug(e: &Error<RamError>, during: &str) {
    match e {
        Error::Region(r) => panic!("{during}: region contract violated: {r:?}"),
        Error::LogicBug => panic!("{during}: Error::LogicBug"),
        _ => {}
    }
}

/// Errors after which nothing was written (the store is as before the call).
fn nothing_written(e: &Error<RamError>) -> bool {
    matches!(
        e,
        Error::EmptyKey
            | Error::KeyTooLarge
            | Error::ValueTooLarge
            | Error::Full
            | Error::IndexFull
            | Error::ReadOnly
    )
}

/// What the session has acknowledged.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Keys written since open: their value (`None`: deleted).
    pub known: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// A `clear()` succeeded: keys not in `known` have no value.
    pub cleared: bool,
    /// False once a write failed part-way: the model no longer binds.
    pub trusted: bool,
}

impl Model {
    /// A model that binds (no write failed yet).
    pub fn new() -> Self {
        Model {
            trusted: true,
            ..Model::default()
        }
    }

    /// What the model says `key` must read, if it knows.
    pub fn expect(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        if !self.trusted {
            return None;
        }
        match self.known.get(key) {
            Some(v) => Some(v.as_deref()),
            None if self.cleared => Some(None),
            None => None,
        }
    }

    fn write_failed(&mut self, e: &Error<RamError>, during: &str) {
        no_bug(e, during);
        if !nothing_written(e) {
            self.trusted = false;
        }
    }
}

/// Largest value `get` is asked to copy.
pub const GET_BUF: usize = 8192;

/// Reads everything a store offers and checks it against itself and the
/// model: `for_each` against `get` and `len`, `stats` invariants.
pub fn exercise_reads<R, I, B>(s: &mut Store<R, I, B>, model: &Model, extra_keys: &[&[u8]])
where
    R: Region<Error = RamError>,
    I: Index,
    B: AsMut<[u8]>,
{
    let st = s.stats();
    assert!(st.used_bytes <= st.capacity, "{st:?}");
    assert!(st.free_bytes <= st.capacity - st.used_bytes, "{st:?}");
    assert_eq!(st.live_keys, s.len());

    let mut seen: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let r = s.for_each(|k, v| {
        seen.push((k.to_vec(), v.to_vec()));
        true
    });
    match r {
        Ok(()) => {
            assert_eq!(seen.len(), s.len(), "for_each visits len() keys");
        }
        Err(e) => no_bug(&e, "for_each"),
    }
    let mut keys: Vec<&[u8]> = seen.iter().map(|(k, _)| &k[..]).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), seen.len(), "for_each repeats a key");

    let mut buf = vec![0u8; GET_BUF];
    for (k, v) in &seen {
        assert!(!k.is_empty());
        match s.get(k, &mut buf) {
            Ok(Some(n)) => assert_eq!(&buf[..n], &v[..], "get disagrees with for_each"),
            other => panic!("for_each yields {k:?} but get says {other:?}"),
        }
        if let Some(want) = model.expect(k) {
            assert_eq!(
                Some(&v[..]),
                want,
                "for_each: key {k:?} differs from the model"
            );
        }
    }
    let known: Vec<Vec<u8>> = model.known.keys().cloned().collect();
    for k in known
        .iter()
        .map(|k| &k[..])
        .chain(extra_keys.iter().copied())
    {
        check_get(s, k, model, &mut buf);
    }
}

/// `get(key)`, checked against the model where it knows the key.
pub fn check_get<R, I, B>(s: &mut Store<R, I, B>, k: &[u8], model: &Model, buf: &mut [u8])
where
    R: Region<Error = RamError>,
    I: Index,
    B: AsMut<[u8]>,
{
    let got = s.get(k, buf);
    if let Err(e) = &got {
        no_bug(e, "get");
    }
    if let Some(want) = model.expect(k) {
        match got {
            Ok(n) => assert_eq!(n.map(|n| &buf[..n]), want, "get {k:?} vs model"),
            Err(Error::EmptyKey | Error::KeyTooLarge) => {}
            Err(e) => panic!("get {k:?}: {e:?}, model says {want:?}"),
        }
    }
}

/// A store as the scripts drive it.
pub type FuzzStore<R, B> = Store<R, FixedIndex<{ crate::INDEX }>, B>;

/// Opens regions again (`Step::Reopen`): regions A, B and the scratch buffer.
pub type Reopen<'f, R, B> = dyn Fn(R, R, B) -> Result<FuzzStore<R, B>, Error<RamError>> + 'f;

/// Runs `steps` on an open store; `reopen` opens the regions again
/// (`Step::Reopen`). Returns the store (or `None` if a reopen failed).
pub fn run<R, B>(
    mut s: FuzzStore<R, B>,
    steps: &[Step],
    model: &mut Model,
    reopen: &Reopen<'_, R, B>,
) -> Option<FuzzStore<R, B>>
where
    R: Region<Error = RamError>,
    B: AsMut<[u8]>,
{
    let mut buf = vec![0u8; GET_BUF];
    for step in steps {
        match step {
            Step::Set(k, v) => {
                let v = v.bytes();
                match s.set(k, &v) {
                    Ok(()) => {
                        model.known.insert(k.clone(), Some(v));
                    }
                    Err(e) => model.write_failed(&e, "set"),
                }
            }
            Step::Delete(k) => {
                let want = model.expect(k);
                match s.remove(k) {
                    Ok(had) => {
                        if let Some(want) = want {
                            assert_eq!(had, want.is_some(), "delete {k:?}: had");
                        }
                        model.known.insert(k.clone(), None);
                    }
                    Err(e) => model.write_failed(&e, "delete"),
                }
            }
            Step::Get(k) => check_get(&mut s, k, model, &mut buf),
            Step::Apply(ops) => {
                let values: Vec<Option<Vec<u8>>> =
                    ops.iter().map(|(_, v)| v.map(Value::bytes)).collect();
                let batch: Vec<Op<'_>> = ops
                    .iter()
                    .zip(&values)
                    .map(|((k, _), v)| match v {
                        Some(v) => Op::Set(k, v),
                        None => Op::Delete(k),
                    })
                    .collect();
                match s.apply(&batch) {
                    Ok(()) => {
                        for ((k, _), v) in ops.iter().zip(values) {
                            model.known.insert(k.clone(), v);
                        }
                    }
                    Err(e) => model.write_failed(&e, "apply"),
                }
            }
            Step::Compact => {
                if let Err(e) = s.compact() {
                    model.write_failed(&e, "compact");
                }
            }
            Step::Clear => match s.clear() {
                Ok(()) => {
                    model.known.clear();
                    model.cleared = true;
                }
                Err(e) => model.write_failed(&e, "clear"),
            },
            Step::Sync => {
                if let Err(e) = s.sync() {
                    model.write_failed(&e, "sync");
                }
            }
            // Repair drops damaged keys only: the keys this session wrote are
            // intact and newer than any damage, so the model still holds.
            Step::Repair => {
                if let Err(e) = s.repair() {
                    model.write_failed(&e, "repair");
                }
            }
            Step::Reopen => {
                let (a, b, _, scratch) = s.into_parts();
                s = match reopen(a, b, scratch) {
                    Ok(s) => s,
                    Err(e) => {
                        no_bug(&e, "reopen");
                        assert!(
                            !model.trusted,
                            "reopen after acknowledged writes failed: {e:?}"
                        );
                        return None;
                    }
                };
            }
        }
        exercise_reads(&mut s, model, &[]);
    }
    Some(s)
}
