//! `--json` of `stats`, `verify`, `list` and `inspect`, parsed: each schema's
//! fields as host/JSON.md documents them, the exit codes (unchanged by
//! `--json`), keys that are not UTF-8; and store commands given an image.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use twinkv_host::inspect::analyze_region;
use twinkv_host::{Options, Store};

const BIN: &str = env!("CARGO_BIN_EXE_twinkv");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn twinkv(args: &[&str]) -> Out {
    let o = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = Out {
        code: o.status.code().expect("exited by a signal"),
        stdout: String::from_utf8(o.stdout).expect("JSON output is UTF-8"),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

/// Runs a `--json` command: exit `code`, one JSON object of `schema`.
fn json(args: &[&str], code: i32, schema: &str) -> Value {
    let o = twinkv(args);
    assert_eq!(o.code, code, "{args:?}: {}{}", o.stdout, o.stderr);
    let v: Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", o.stdout));
    assert_eq!(v["schema"], schema, "{args:?}");
    v
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Small stores, opened in this process: the tests of this file run in
/// parallel and spawn processes, and a child forked while one of these
/// stores is open keeps its lock until it execs; the commands below then read
/// with `--snapshot` where they may follow such an open directly. Stores
/// opened by the CLI itself have no such window.
fn store(base: &Path, entries: &[(&[u8], &[u8])]) {
    let mut st = Store::open(base, Options::new().region_size(8192)).unwrap();
    for (k, v) in entries {
        st.set(k, v).unwrap();
    }
    st.close().unwrap();
}

/// A store whose first record is damaged before a sync point ("victim"),
/// with an intact "bystander"; returns the damaged record's offset.
fn corrupt_store(base: &Path) -> u32 {
    let mut st = Store::open(base, Options::new().region_size(4096)).unwrap();
    st.set("victim", "original value").unwrap();
    st.set("bystander", "fine").unwrap();
    st.sync().unwrap();
    drop(st);
    let (a, _) = twinkv_host::region_paths(base);
    let mut bytes = std::fs::read(&a).unwrap();
    let first = analyze_region(&bytes, 4).records[0].offset;
    bytes[first as usize + 8 + 6 + 3] ^= 0x10; // inside the value
    std::fs::write(&a, &bytes).unwrap();
    first
}

const REGION: &[&str] = &[
    "name",
    "size",
    "header",
    "markers",
    "log_end",
    "record_count",
    "intact_records",
    "problems",
];
const HEADER_VALID: &[&str] = &[
    "state",
    "format_version",
    "store_id",
    "generation",
    "region_size",
    "write_unit",
    "erase_unit",
    "read_unit",
    "max_key_len",
    "max_value_len",
    "high_water_bp",
    "max_fill_bp",
];
const OPEN_OK: &[&str] = &[
    "ok",
    "store_id",
    "active",
    "generation",
    "live_keys",
    "damaged_keys",
    "live_bytes",
    "used_bytes",
    "capacity",
    "dirty_tail",
    "unfinished_switch",
];
const VERIFY: &[&str] = &[
    "schema",
    "verdict",
    "findings",
    "open",
    "regions",
    "damaged_records",
];

#[test]
fn stats_json() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("st");
    store(&base, &[(b"a", b"1"), (b"b", b"22")]);
    let v = json(
        &["stats", s(&base), "--json", "--snapshot"],
        0,
        "twinkv.stats.v1",
    );
    assert_eq!(
        keys(&v),
        set(&[
            "schema",
            "store",
            "files",
            "store_id",
            "active",
            "generation",
            "capacity",
            "used_bytes",
            "uncovered_bytes",
            "live_bytes",
            "free_bytes",
            "high_water_bp",
            "high_water_bytes",
            "max_fill_bp",
            "fill_limit",
            "max_key_len",
            "max_value_len",
            "switches",
            "live_keys",
            "damaged_keys",
            "damage_found_at_open",
            "dirty_tail",
            "unfinished_switch",
            "clean",
        ])
    );
    let st = Store::open_read_only(&base).unwrap().stats().unwrap();
    assert_eq!(v["store_id"], format!("{:016x}", st.store_id));
    assert_eq!(v["active"], "A");
    assert_eq!(v["generation"], 1);
    assert_eq!(v["live_keys"], 2);
    assert_eq!(v["live_bytes"], st.live_bytes);
    assert_eq!(v["capacity"], 8192 - 84);
    assert_eq!(v["high_water_bp"], 8000);
    assert_eq!(v["clean"], true);
    assert_eq!(v["files"][0]["size"], 8192);
    assert!(v["files"][1]["path"].as_str().unwrap().ends_with("st.b"));
    // Exit codes unchanged: a missing store is exit 4, nothing on stdout.
    let o = twinkv(&["stats", s(&d.path().join("none")), "--json"]);
    assert_eq!((o.code, o.stdout.as_str()), (4, ""));
}

#[test]
fn list_json_keys_as_export_writes_them() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("st");
    store(
        &base,
        &[
            (b"plain", b"1"),
            ("tab\tand \"quote\"".as_bytes(), b"2"),
            ("grüße".as_bytes(), b"3"),
            (&[0xFF, 0x00, 0x41], b"4"),
        ],
    );
    let v = json(
        &["list", s(&base), "--json", "--snapshot"],
        0,
        "twinkv.list.v1",
    );
    assert_eq!(keys(&v), set(&["schema", "count", "keys", "damaged_keys"]));
    assert_eq!(v["count"], 4);
    assert_eq!(v["damaged_keys"], 0);
    // Sorted by bytes; UTF-8 as text (JSON escapes), anything else as hex.
    assert_eq!(
        v["keys"],
        serde_json::json!([
            {"key": "grüße"},
            {"key": "plain"},
            {"key": "tab\tand \"quote\""},
            {"key_hex": "ff0041"},
        ])
    );
    // The same convention as export.
    let export: Value =
        serde_json::from_str(&twinkv(&["export", s(&base), "--snapshot"]).stdout).unwrap();
    for (i, e) in export.as_array().unwrap().iter().enumerate() {
        let mut e = e.clone();
        let m = e.as_object_mut().unwrap();
        m.remove("value");
        m.remove("value_hex");
        assert_eq!(e, v["keys"][i]);
    }
    // A damaged key: exit 3, the intact keys listed, the damage counted.
    let bad = d.path().join("bad");
    corrupt_store(&bad);
    let o = twinkv(&["list", s(&bad), "--json", "--snapshot"]);
    assert_eq!(o.code, 3);
    assert!(o.stderr.contains("1 damaged key"), "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["keys"], serde_json::json!([{"key": "bystander"}]));
    assert_eq!(v["damaged_keys"], 1);
}

#[test]
fn verify_json_clean_and_corrupt() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("st");
    store(&base, &[(b"k", b"v")]);
    let v = json(
        &["verify", s(&base), "--json", "--snapshot"],
        0,
        "twinkv.verify.v1",
    );
    assert_eq!(keys(&v), set(VERIFY));
    assert_eq!(v["verdict"], "clean");
    assert_eq!(v["findings"], serde_json::json!([]));
    assert_eq!(keys(&v["open"]), set(OPEN_OK));
    assert_eq!(v["open"]["ok"], true);
    let a = &v["regions"][0];
    assert_eq!(keys(a), set(REGION), "no records without --verbose");
    assert!(a["name"].as_str().unwrap().ends_with("st.a"));
    assert_eq!(keys(&a["header"]), set(HEADER_VALID));
    assert_eq!(a["header"]["state"], "valid");
    assert_eq!(a["header"]["write_unit"], 4);
    assert_eq!(a["header"]["erase_unit"], 512);
    assert_eq!(
        keys(&a["markers"]),
        set(&["switching", "commit", "superseded", "data_end"])
    );
    assert_eq!(a["markers"]["commit"], "valid");
    assert_eq!(a["markers"]["data_end"], 84);
    assert_eq!(
        v["regions"][1]["header"],
        serde_json::json!({"state": "empty"})
    );
    assert_eq!(v["regions"][1]["markers"], Value::Null);

    // Damage before a sync point: exit 3 with the same schema.
    let bad = d.path().join("bad");
    let off = corrupt_store(&bad);
    let v = json(
        &["verify", s(&bad), "--json", "--snapshot", "-v"],
        3,
        "twinkv.verify.v1",
    );
    assert_eq!(v["verdict"], "corrupt");
    assert!(!v["findings"].as_array().unwrap().is_empty());
    assert_eq!(
        v["damaged_records"],
        serde_json::json!([{"offset": off, "key": "victim"}])
    );
    assert_eq!(v["open"]["damaged_keys"], 1);
    let a = &v["regions"][0];
    assert!(
        a["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "damaged_record" && p["offset"] == off),
        "{a}"
    );
    // --verbose lists every record.
    let records = a["records"].as_array().unwrap();
    assert_eq!(records.len(), a["record_count"].as_u64().unwrap() as usize);
    let first = &records[0];
    assert_eq!(
        keys(first),
        set(&["offset", "stored_len", "kind", "key", "value_len", "intact"])
    );
    assert_eq!(
        (&first["kind"], &first["key"], &first["intact"]),
        (&"set".into(), &"victim".into(), &false.into())
    );
    assert!(records
        .iter()
        .any(|r| r["kind"] == "sync" && r.get("key").is_none()));
}

/// A set over a set with a value as long is stored as an update (FORMAT.md
/// §4.3): `verify -v` lists it as `update`, in JSON and in text.
#[test]
fn verify_lists_updates_as_such() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("st");
    store(
        &base,
        &[(b"mode", b"eco"), (b"mode", b"ice"), (b"mode", b"boost")],
    );
    let v = json(
        &["verify", s(&base), "--json", "--snapshot", "-v"],
        0,
        "twinkv.verify.v1",
    );
    let kinds: Vec<&str> = v["regions"][0]["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"] == "mode")
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["set", "update", "set"]);
    let out = twinkv(&["verify", s(&base), "--snapshot", "-v"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains("mode")).collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[1].contains(" update "), "{}", out.stdout);
    assert!(lines[2].contains(" set "), "{}", out.stdout);
}

/// An image made by `image create`, inspected; then damaged.
#[test]
fn inspect_json_and_text() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let settings = d.path().join("settings.json");
    std::fs::write(
        &settings,
        r#"[{"key":"mode","value":"eco"},{"key":"temp","value":"21.5"},
            {"key_hex":"00ff","value_hex":"c328"}]"#,
    )
    .unwrap();
    let image = d.path().join("flash.bin");
    let o = twinkv(&[
        "image",
        "create",
        "--write-size",
        "8",
        "--erase-size",
        "4096",
        "--region-size",
        "8192",
        "--store-id",
        "0x5eed",
        "--from",
        s(&settings),
        "-o",
        s(&image),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let geo = ["--write-size", "8", "--erase-size", "4096"];
    let mut args = vec!["inspect", s(&image), "--json"];
    args.extend_from_slice(&geo);
    let v = json(&args, 0, "twinkv.inspect.v1");
    let mut all = set(VERIFY);
    all.extend(["image", "entries"]);
    assert_eq!(keys(&v), all);
    assert_eq!(
        v["image"],
        serde_json::json!({
            "path": s(&image), "file_size": 16384, "offset": 0,
            "region_size": 8192, "write_unit": 8, "erase_unit": 4096,
        })
    );
    assert_eq!(
        v["entries"],
        serde_json::json!([
            {"key_hex": "00ff", "value_hex": "c328"},
            {"key": "mode", "value": "eco"},
            {"key": "temp", "value": "21.5"},
        ])
    );
    assert_eq!(v["verdict"], "clean");
    assert_eq!(v["open"]["store_id"], "0000000000005eed");
    let a = &v["regions"][0];
    let mut region = set(REGION);
    region.insert("records");
    assert_eq!(keys(a), region, "inspect always lists records");
    assert_eq!(a["header"]["store_id"], "0000000000005eed");
    assert_eq!(a["header"]["generation"], 1);
    assert_eq!(a["header"]["write_unit"], 8);
    assert_eq!(a["records"].as_array().unwrap().len(), 3);
    assert_eq!(a["records"][0]["key_hex"], "00ff");

    // Text: the live entries, text or hex.
    let mut args = vec!["inspect", s(&image)];
    args.extend_from_slice(&geo);
    let o = twinkv(&args);
    assert_eq!(o.code, 0);
    for want in [
        "live entries: 3",
        "  0x00ff = 0xc328",
        "  \"mode\" = \"eco\"",
        "verdict: clean",
    ] {
        assert!(o.stdout.contains(want), "{want}: {}", o.stdout);
    }

    // Damage the first record's value: exit 3, the key left out of entries.
    let mut bytes = std::fs::read(&image).unwrap();
    let first = analyze_region(&bytes[..8192], 8).records[0].clone();
    bytes[first.offset as usize + 8 + first.key.len()] ^= 0x04;
    std::fs::write(&image, &bytes).unwrap();
    let mut args = vec!["inspect", s(&image), "--json"];
    args.extend_from_slice(&geo);
    let v = json(&args, 3, "twinkv.inspect.v1");
    assert_eq!(v["verdict"], "corrupt");
    assert_eq!(
        v["entries"].as_array().unwrap().len(),
        2,
        "{}",
        v["entries"]
    );
    assert_eq!(v["damaged_records"][0]["key_hex"], "00ff");
    // export of the damaged image: the intact entries, exit 3.
    let mut args = vec!["export", s(&image)];
    args.extend_from_slice(&geo);
    let o = twinkv(&args);
    assert_eq!(o.code, 3, "{}", o.stderr);
    let e: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(e, v["entries"]);

    // An image erased throughout: clean, no entries; export writes [].
    std::fs::write(&image, vec![0xFF; 16384]).unwrap();
    let mut args = vec!["inspect", s(&image), "--json"];
    args.extend_from_slice(&geo);
    let v = json(&args, 0, "twinkv.inspect.v1");
    assert_eq!(v["open"]["ok"], false);
    assert_eq!(v["entries"], serde_json::json!([]));
    let mut args = vec!["export", s(&image)];
    args.extend_from_slice(&geo);
    assert_eq!(twinkv(&args).stdout, "[]\n");
    // An offset past the end is a usage error.
    let mut args = vec!["inspect", s(&image), "--offset", "1M"];
    args.extend_from_slice(&geo);
    assert_eq!(twinkv(&args).code, 2);
}

/// Store commands given an image (or one file of a store) say what to use,
/// exit 2, and create nothing.
#[test]
fn store_commands_point_images_to_inspect() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let image = d.path().join("flash.bin");
    std::fs::write(&image, vec![0xFF; 8192]).unwrap();
    let p = s(&image);
    for args in [
        &["list", p][..],
        &["stats", p, "--json"],
        &["verify", p],
        &["dump", p],
        &["export", p],
        &["get", p, "k"],
        &["set", p, "k", "v"],
        &["import", p, "-"],
    ] {
        let o = twinkv(args);
        assert_eq!(o.code, 2, "{args:?}");
        assert!(
            o.stderr.contains("is a file, not a store") && o.stderr.contains("twinkv inspect"),
            "{args:?}: {}",
            o.stderr
        );
    }
    assert!(!twinkv_host::region_paths(&image).0.exists());
    // One file of a store: name the base path.
    let base = d.path().join("st");
    store(&base, &[(b"k", b"v")]);
    let (a, _) = twinkv_host::region_paths(&base);
    let o = twinkv(&["list", s(&a)]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("one file of the store") && o.stderr.contains(s(&base)),
        "{}",
        o.stderr
    );
}
