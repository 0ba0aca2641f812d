//! The subcommands.

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use twinkv_host::inspect::{self, hex, show_key, Verdict};
use twinkv_host::{Options, Store};

use crate::{exit, out_err, Command, CreateOpts, Failure};

type Out<'a> = &'a mut dyn Write;
type Res = Result<u8, Failure>;

/// Runs one command. Commands that write sync before returning unless
/// `no_sync` (then their writes survive a crash of the process, not power
/// loss).
pub(crate) fn run(command: Command, no_sync: bool, out: Out<'_>) -> Res {
    let w = Writer { no_sync };
    match command {
        Command::Set {
            store,
            key,
            value,
            create,
            sync: _,
        } => {
            let value = if value == "-" {
                let mut v = Vec::new();
                std::io::stdin().read_to_end(&mut v)?;
                v
            } else {
                value.into_bytes()
            };
            let opts = create_options(&create)?;
            w.creating(&store, opts, |s| Ok(s.set(&key, &value)?))?;
            Ok(exit::OK)
        }
        Command::Get {
            store,
            key,
            no_newline,
        } => {
            let s = Store::open_read_only(&store)?;
            match s.get(&key)? {
                Some(v) => {
                    out.write_all(v).map_err(out_err)?;
                    if !no_newline {
                        out.write_all(b"\n").map_err(out_err)?;
                    }
                    Ok(exit::OK)
                }
                None => Err(Failure::new(exit::ABSENT, format!("{key:?}: no such key"))),
            }
        }
        Command::Rm { store, key } => {
            let mut s = w.open(&store)?;
            let had = s.remove(&key)?;
            w.finish(s)?;
            if had {
                Ok(exit::OK)
            } else {
                Err(Failure::new(exit::ABSENT, format!("{key:?}: no such key")))
            }
        }
        Command::List { store, snapshot } => {
            let s = open_reader(&store, snapshot)?;
            for (k, _) in sorted(&s)? {
                writeln!(out, "{}", plain_key(&k)).map_err(out_err)?;
            }
            damaged_check(out, &s)
        }
        Command::Dump {
            store,
            json,
            snapshot,
        } => {
            let s = open_reader(&store, snapshot)?;
            let entries = sorted(&s)?;
            if json {
                write_json(out, &entries)?;
            } else {
                for (k, v) in &entries {
                    writeln!(out, "{} = {}", show_key(k), show_value(v)).map_err(out_err)?;
                }
            }
            damaged_check(out, &s)
        }
        Command::Export { store, snapshot } => {
            let s = open_reader(&store, snapshot)?;
            write_json(out, &sorted(&s)?)?;
            damaged_check(out, &s)
        }
        Command::Import {
            store,
            file,
            create,
        } => {
            let text = if file.as_os_str() == "-" {
                let mut t = String::new();
                std::io::stdin().read_to_string(&mut t)?;
                t
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?
            };
            let entries = parse_json(&text)
                .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?;
            if let Some(i) = entries.iter().position(|(k, _)| k.is_empty()) {
                return Err(Failure::new(
                    exit::ERROR,
                    format!("{}: entry {i}: the key is empty", file.display()),
                ));
            }
            let opts = create_options(&create)?;
            w.creating(&store, opts, |s| {
                Ok(s.set_many(entries.iter().map(|(k, v)| (k, v)))?)
            })?;
            writeln!(out, "imported {} entries", entries.len()).map_err(out_err)?;
            Ok(exit::OK)
        }
        Command::Stats { store, snapshot } => {
            let s = open_reader(&store, snapshot)?;
            crate::report::stats(out, &s)?;
            Ok(exit::OK)
        }
        Command::Verify {
            store,
            snapshot,
            verbose,
        } => {
            let r = inspect::verify_store(&store, snapshot)?;
            crate::report::verify(out, &r, verbose)?;
            Ok(verdict_code(&r.verdict))
        }
        Command::Compact { store } => {
            let mut s = w.open(&store)?;
            s.compact()?;
            let st = s.stats()?;
            w.finish(s)?;
            writeln!(
                out,
                "compacted: region {:?}, generation {}, {} live bytes, {} keys",
                st.active, st.generation, st.live_bytes, st.live_keys
            )
            .map_err(out_err)?;
            Ok(exit::OK)
        }
        Command::Repair { store, yes } => repair(out, &store, yes, &w),
        Command::Resize { store, size } => {
            let mut s = w.open(&store)?;
            s.resize(size)?;
            w.finish(s)?;
            writeln!(out, "resized: {size} bytes per region").map_err(out_err)?;
            Ok(exit::OK)
        }
        Command::Demo { dir } => crate::demo::run(out, dir),
        Command::Inspect {
            image,
            write_size,
            erase_size,
            region_size,
        } => {
            let bytes = std::fs::read(&image)
                .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", image.display())))?;
            let r = inspect::verify_image(&bytes, write_size, erase_size, region_size)?;
            crate::report::inspect(out, &r, write_size)?;
            Ok(verdict_code(&r.verdict))
        }
        #[cfg(feature = "_test-hooks")]
        Command::CrashWriter {
            store,
            start,
            count,
            size,
            sync_every_write,
        } => crash_writer(out, &store, start, count, size, sync_every_write),
    }
}

/// After listing a store: keys that answer with a corruption error were not
/// listed; say so (exit 3).
fn damaged_check(out: Out<'_>, s: &Store) -> Res {
    let damaged = s.stats()?.damaged_keys;
    if damaged == 0 {
        return Ok(exit::OK);
    }
    out.flush().map_err(out_err)?;
    Err(Failure::new(
        exit::CORRUPT,
        format!("{damaged} damaged key(s) or key group(s) not shown; run `twinkv verify`"),
    ))
}

fn verdict_code(v: &Verdict) -> u8 {
    match v {
        Verdict::Corrupt(_) => exit::CORRUPT,
        _ => exit::OK,
    }
}

/// How write commands open and close a store.
struct Writer {
    no_sync: bool,
}

impl Writer {
    fn options(&self, o: Options) -> Options {
        o.sync_on_close(!self.no_sync)
    }

    /// Opens an existing store for writing: never creates nor formats.
    fn open(&self, store: &Path) -> Result<Store, Failure> {
        Ok(Store::open(
            store,
            self.options(Options::new().create(false)),
        )?)
    }

    /// Syncs (unless `--no-sync`) and closes.
    fn finish(&self, s: Store) -> Result<(), Failure> {
        if !self.no_sync {
            s.close()?;
        }
        Ok(())
    }

    /// Opens (creating it if absent), runs `f`, syncs and closes. If `f`
    /// fails on a store this command created, its files are removed again.
    fn creating(
        &self,
        store: &Path,
        opts: Options,
        f: impl FnOnce(&mut Store) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut s = Store::open(store, self.options(opts))?;
        if let Err(e) = f(&mut s) {
            if s.created() {
                // Still locked by us: nobody else has opened them.
                let (a, b) = s.file_paths();
                let _ = std::fs::remove_file(a);
                let _ = std::fs::remove_file(b);
            }
            return Err(e);
        }
        self.finish(s)
    }
}

/// The options of a new store, checked before anything is created: invalid
/// ones are a usage error (exit 2).
fn create_options(c: &CreateOpts) -> Result<Options, Failure> {
    let mut o = Options::new();
    if let Some(s) = c.size {
        o = o.region_size(s);
    }
    if let Some(h) = c.high_water {
        o = o.high_water(h);
    }
    o.validate()?;
    Ok(o)
}

fn open_reader(store: &Path, snapshot: bool) -> Result<Store, Failure> {
    Ok(if snapshot {
        Store::open_snapshot(store)?
    } else {
        Store::open_read_only(store)?
    })
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Every intact entry, sorted by key. Damaged keys (the iterator's errors)
/// are left out here and reported afterwards by `damaged_check`.
fn sorted(s: &Store) -> Result<Entries, Failure> {
    let mut v: Entries = s
        .iter()
        .filter_map(|r| r.ok())
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    v.sort();
    Ok(v)
}

/// A key for `list`: as is when it is printable UTF-8, else `0x` + hex.
fn plain_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("0x{}", hex(k)),
    }
}

fn show_value(v: &[u8]) -> String {
    show_key(v)
}

/// One entry of `dump --json` / `export` / `import`. Each of key and value is
/// given as UTF-8 text (`key`, `value`) when it is valid UTF-8, else as hex
/// (`key_hex`, `value_hex`).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_hex: Option<String>,
}

fn text_or_hex(b: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(b) {
        Ok(s) => (Some(s.to_string()), None),
        Err(_) => (None, Some(hex(b))),
    }
}

fn write_json(out: Out<'_>, entries: &Entries) -> Result<(), Failure> {
    out.write_all(b"[").map_err(out_err)?;
    for (i, (k, v)) in entries.iter().enumerate() {
        let (key, key_hex) = text_or_hex(k);
        let (value, value_hex) = text_or_hex(v);
        let e = Entry {
            key,
            key_hex,
            value,
            value_hex,
        };
        let line =
            serde_json::to_string(&e).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
        let sep = if i == 0 { "\n  " } else { ",\n  " };
        write!(out, "{sep}{line}").map_err(out_err)?;
    }
    out.write_all(if entries.is_empty() { b"]\n" } else { b"\n]\n" })
        .map_err(out_err)
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("hex {s:?} has an odd length"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("{s:?} is not hex"))
        })
        .collect()
}

fn parse_json(text: &str) -> Result<Entries, String> {
    let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let pick = |t: Option<String>, h: Option<String>, what: &str| match (t, h) {
                (Some(t), None) => Ok(t.into_bytes()),
                (None, Some(h)) => unhex(&h),
                _ => Err(format!(
                    "entry {i}: give exactly one of \"{what}\" and \"{what}_hex\""
                )),
            };
            Ok((
                pick(e.key, e.key_hex, "key")?,
                pick(e.value, e.value_hex, "value")?,
            ))
        })
        .collect()
}

fn repair(out: Out<'_>, store: &Path, yes: bool, w: &Writer) -> Res {
    let report = inspect::verify_store(store, false)?;
    if report.damaged.is_empty() && !matches!(report.verdict, Verdict::Corrupt(_)) {
        writeln!(out, "nothing to repair ({})", report.verdict.name()).map_err(out_err)?;
        return Ok(exit::OK);
    }
    writeln!(out, "damaged records that repair drops:").map_err(out_err)?;
    for (off, key) in &report.damaged {
        let key = if key.is_empty() {
            "(key unknown)".to_string()
        } else {
            show_key(key)
        };
        writeln!(out, "  offset {off}: {key}").map_err(out_err)?;
    }
    if let Verdict::Corrupt(findings) = &report.verdict {
        for f in findings {
            writeln!(out, "  {f}").map_err(out_err)?;
        }
    }
    if !yes {
        return Err(Failure::new(
            exit::USAGE,
            "refusing to repair without --yes (the records above would be dropped)",
        ));
    }
    let mut s = w.open(store)?;
    let dropped = s.repair()?;
    let st = s.stats()?;
    w.finish(s)?;
    writeln!(
        out,
        "repaired: dropped {dropped} damaged key(s) or key group(s); region {:?}, generation {}, {} keys",
        st.active, st.generation, st.live_keys
    )
    .map_err(out_err)?;
    Ok(exit::OK)
}

#[cfg(feature = "_test-hooks")]
fn crash_writer(out: Out<'_>, store: &Path, start: u64, count: u64, size: u32, sync: bool) -> Res {
    use twinkv_host::Durability;
    let durability = if sync {
        Durability::SyncEveryWrite
    } else {
        Durability::Default
    };
    let opts = Options::new()
        .region_size(size)
        .limits(16, 48)
        .durability(durability);
    let mut s = Store::open(store, opts)?;
    if let Some(n) = std::env::var("TWINKV_ABORT_AT_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        twinkv_host::hooks::die_at_step(n);
    }
    writeln!(out, "ready").map_err(out_err)?;
    out.flush().map_err(out_err)?;
    for i in start..start.saturating_add(count) {
        let (key, value) = crash_op(i);
        match value {
            Some(v) => s.set(&key, &v)?,
            None => {
                s.remove(&key)?;
            }
        }
        writeln!(out, "ack {i}").map_err(out_err)?;
        out.flush().map_err(out_err)?;
    }
    Ok(exit::OK)
}

/// Operation `i` of the crash writer: the key, and the value to set (`None`:
/// delete). The crash test computes the same sequence.
#[cfg(feature = "_test-hooks")]
fn crash_op(i: u64) -> (String, Option<String>) {
    let key = format!("k{:02}", i % 29);
    if i % 13 == 12 {
        (key, None)
    } else {
        (key, Some(format!("v{i}-{}", "x".repeat((i % 17) as usize))))
    }
}

/// Parses a byte size: digits with an optional K, M or G suffix (powers of
/// 1024; `KiB`, `MiB`, `GiB` too).
pub(crate) fn parse_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let mul: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown size suffix")),
    };
    n.checked_mul(mul)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("{s:?} is too large (at most 4 GiB - 1)"))
}

/// Parses a region size: a size (as [`parse_size`]) that is a non-zero
/// multiple of 512.
pub(crate) fn parse_region_size(s: &str) -> Result<u32, String> {
    let n = parse_size(s)?;
    let unit = twinkv_host::ERASE_UNIT;
    if n == 0 || n % unit != 0 {
        return Err(format!(
            "a region size must be a positive multiple of {unit} bytes (such as 4K or 1M)"
        ));
    }
    Ok(n)
}

/// A key: any non-empty string.
pub(crate) fn parse_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a key must not be empty".to_string());
    }
    Ok(s.to_string())
}

/// Parses a percentage (`40`, `40%`, `12.5`) into basis points.
pub(crate) fn parse_percent(s: &str) -> Result<u16, String> {
    let t = s.trim().trim_end_matches('%');
    let p: f64 = t
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage"))?;
    if !(0.01..=100.0).contains(&p) {
        return Err(format!("{s:?}: a percentage between 0.01 and 100"));
    }
    Ok((p * 100.0).round() as u16)
}
