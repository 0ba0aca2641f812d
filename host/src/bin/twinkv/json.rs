//! `--json` output of `stats`, `verify`, `list` and `inspect`: one object per
//! command, schema `twinkv.<command>.v1` (documented in host/JSON.md).
//! Names are snake_case and stable within a schema version; a field is only
//! ever added, and a removal or change of meaning bumps the version.

use std::io::Write;

use serde_json::{json, Map, Value};
use twinkv_host::core::format::record::Kind;
use twinkv_host::core::format::MarkerState;
use twinkv_host::core::{fill_limit, RegionId};
use twinkv_host::inspect::{HeaderState, ProblemKind, RecordInfo, RegionReport, Report};
use twinkv_host::{Stats, Store};

use crate::{exit, out_err, Failure};

type Out<'a> = &'a mut dyn Write;

/// Writes `v` pretty-printed, with a final newline.
pub(crate) fn write(out: Out<'_>, v: &Value) -> Result<(), Failure> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(|e| {
        if e.is_io() {
            out_err(e.into())
        } else {
            Failure::new(exit::ERROR, e.to_string())
        }
    })?;
    out.write_all(b"\n").map_err(out_err)
}

/// A store id as 16 hex digits (a `u64` does not survive a JSON reader that
/// reads numbers as doubles).
fn id(x: u64) -> String {
    format!("{x:016x}")
}

fn region_id(r: RegionId) -> &'static str {
    match r {
        RegionId::A => "A",
        RegionId::B => "B",
    }
}

/// Bytes as `export` writes them: `{name: text}` when valid UTF-8, else
/// `{name_hex: hex}`; inserted into `m`.
pub(crate) fn put_bytes(m: &mut Map<String, Value>, name: &str, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => m.insert(name.to_string(), Value::from(s)),
        Err(_) => m.insert(
            format!("{name}_hex"),
            Value::from(twinkv_host::inspect::hex(b)),
        ),
    };
}

/// `{"key"|"key_hex", "value"|"value_hex"}`, the entry shape of `export`.
pub(crate) fn entry(k: &[u8], v: &[u8]) -> Value {
    let mut m = Map::new();
    put_bytes(&mut m, "key", k);
    put_bytes(&mut m, "value", v);
    Value::Object(m)
}

fn key(k: &[u8]) -> Value {
    let mut m = Map::new();
    put_bytes(&mut m, "key", k);
    Value::Object(m)
}

/// `twinkv.stats.v1`.
pub(crate) fn stats(s: &Store) -> Result<Value, Failure> {
    let st = s.stats()?;
    let c = s.config();
    let (a, b) = s.file_paths();
    let (sa, sb) = s.region_sizes();
    Ok(json!({
        "schema": "twinkv.stats.v1",
        "store": s.path().display().to_string(),
        "files": [
            {"path": a.display().to_string(), "size": sa},
            {"path": b.display().to_string(), "size": sb},
        ],
        "store_id": id(st.store_id),
        "active": region_id(st.active),
        "generation": st.generation,
        "capacity": st.capacity,
        "used_bytes": st.used_bytes,
        "uncovered_bytes": st.uncovered_bytes,
        "live_bytes": st.live_bytes,
        "free_bytes": st.free_bytes,
        "high_water_bp": c.high_water_bp,
        "high_water_bytes": fill_limit(st.capacity, c.high_water_bp),
        "max_fill_bp": c.max_fill_bp,
        "fill_limit": st.fill_limit,
        "max_key_len": c.max_key_len,
        "max_value_len": c.max_value_len,
        "switches": st.switches,
        "live_keys": st.live_keys,
        "damaged_keys": st.damaged_keys,
        "damage_found_at_open": st.damage_found_at_open,
        "dirty_tail": st.dirty_tail,
        "unfinished_switch": st.unfinished_switch,
        "clean": !st.dirty_tail && !st.unfinished_switch && st.damage_found_at_open == 0,
    }))
}

/// `twinkv.list.v1`.
pub(crate) fn list(keys: &[Vec<u8>], damaged_keys: usize) -> Value {
    json!({
        "schema": "twinkv.list.v1",
        "count": keys.len(),
        "keys": keys.iter().map(|k| key(k)).collect::<Vec<_>>(),
        "damaged_keys": damaged_keys,
    })
}

fn marker(m: MarkerState) -> &'static str {
    match m {
        MarkerState::Erased => "erased",
        MarkerState::Valid(_) => "valid",
        MarkerState::Torn => "torn",
    }
}

/// A record's kind as shown: a set stored as an update (FORMAT.md §4.3)
/// is shown as one.
fn kind(x: &RecordInfo) -> String {
    match x.kind {
        Kind::Set if x.update => "update".into(),
        Kind::Set => "set".into(),
        Kind::Delete => "delete".into(),
        Kind::BatchBegin => "batch_begin".into(),
        Kind::BatchCommit => "batch_commit".into(),
        Kind::Clear => "clear".into(),
        Kind::SyncMarker => "sync".into(),
        Kind::Erased => "erased".into(),
        Kind::Damaged => "damaged".into(),
        Kind::Reserved(c) => format!("reserved_{c}"),
    }
}

fn problem(k: ProblemKind) -> &'static str {
    match k {
        ProblemKind::DamagedRecord => "damaged_record",
        ProblemKind::Gap => "gap",
        ProblemKind::Hole => "hole",
        ProblemKind::UncommittedBatch => "uncommitted_batch",
        ProblemKind::SyncCoverage => "sync_coverage",
    }
}

fn header(h: &HeaderState) -> Value {
    match h {
        HeaderState::Empty => json!({"state": "empty"}),
        HeaderState::ErasedHeader => json!({"state": "erased_header"}),
        HeaderState::Invalid => json!({"state": "invalid"}),
        HeaderState::Unsupported(v) => json!({"state": "unsupported", "format_version": v}),
        HeaderState::Valid(h) => json!({
            "state": "valid",
            "format_version": 1,
            "store_id": id(h.store_id),
            "generation": h.generation,
            "region_size": h.region_size,
            "write_unit": h.write_unit,
            "erase_unit": h.erase_unit,
            "read_unit": h.read_unit,
            "max_key_len": h.max_key_len,
            "max_value_len": h.max_value_len,
            "high_water_bp": h.high_water_bp,
            "max_fill_bp": h.max_fill_bp,
        }),
    }
}

fn region(name: &str, r: &RegionReport, records: bool) -> Value {
    let markers = r.markers.map(|[sw, cm, sp]| {
        json!({
            "switching": marker(sw),
            "commit": marker(cm),
            "superseded": marker(sp),
            "data_end": match cm {
                MarkerState::Valid(end) => Some(end),
                _ => None,
            },
        })
    });
    let mut v = json!({
        "name": name,
        "size": r.size,
        "header": header(&r.header),
        "markers": markers,
        "log_end": r.log_end,
        "record_count": r.records.len(),
        "intact_records": r.records.iter().filter(|x| x.intact).count(),
        "problems": r.problems.iter().map(|p| json!({
            "offset": p.offset,
            "end": p.end,
            "kind": problem(p.kind),
        })).collect::<Vec<_>>(),
    });
    if records {
        let list: Vec<Value> = r
            .records
            .iter()
            .map(|x| {
                let mut m = Map::new();
                m.insert("offset".into(), x.offset.into());
                m.insert("stored_len".into(), x.len.into());
                m.insert("kind".into(), kind(x).into());
                if !x.key.is_empty() {
                    put_bytes(&mut m, "key", &x.key);
                }
                m.insert("value_len".into(), x.value_len.into());
                m.insert("intact".into(), x.intact.into());
                Value::Object(m)
            })
            .collect();
        v["records"] = Value::from(list);
    }
    v
}

fn open(o: &Result<Stats, String>) -> Value {
    match o {
        Ok(st) => json!({
            "ok": true,
            "store_id": id(st.store_id),
            "active": region_id(st.active),
            "generation": st.generation,
            "live_keys": st.live_keys,
            "damaged_keys": st.damaged_keys,
            "live_bytes": st.live_bytes,
            "used_bytes": st.used_bytes,
            "capacity": st.capacity,
            "dirty_tail": st.dirty_tail,
            "unfinished_switch": st.unfinished_switch,
        }),
        Err(e) => json!({"ok": false, "error": e}),
    }
}

/// The fields `verify` and `inspect` share.
fn report(schema: &str, r: &Report, records: bool) -> Value {
    let findings: &[String] = match &r.verdict {
        twinkv_host::inspect::Verdict::Clean => &[],
        twinkv_host::inspect::Verdict::Recoverable(f)
        | twinkv_host::inspect::Verdict::Corrupt(f) => f,
    };
    let damaged: Vec<Value> = r
        .damaged
        .iter()
        .map(|(off, k)| {
            let mut m = Map::new();
            m.insert("offset".into(), (*off).into());
            if !k.is_empty() {
                put_bytes(&mut m, "key", k);
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "schema": schema,
        "verdict": r.verdict.name(),
        "findings": findings,
        "open": open(&r.open),
        "regions": r.regions.iter().map(|(n, reg)| region(n, reg, records)).collect::<Vec<_>>(),
        "damaged_records": damaged,
    })
}

/// `twinkv.verify.v1`.
pub(crate) fn verify(r: &Report, verbose: bool) -> Value {
    report("twinkv.verify.v1", r, verbose)
}

/// Where an image was read from.
pub(crate) struct ImageSource<'a> {
    pub(crate) path: &'a str,
    pub(crate) file_size: u64,
    pub(crate) offset: u32,
    pub(crate) write_unit: u32,
    pub(crate) erase_unit: u32,
}

/// `twinkv.inspect.v1`: `verify`'s fields (every record listed), the image's
/// geometry and every live entry.
pub(crate) fn inspect(r: &Report, src: &ImageSource<'_>) -> Value {
    let mut v = report("twinkv.inspect.v1", r, true);
    v["image"] = json!({
        "path": src.path,
        "file_size": src.file_size,
        "offset": src.offset,
        "region_size": r.regions[0].1.size,
        "write_unit": src.write_unit,
        "erase_unit": src.erase_unit,
    });
    v["entries"] = r.entries.iter().map(|(k, v)| entry(k, v)).collect();
    v
}
