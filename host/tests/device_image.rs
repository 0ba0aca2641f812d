//! Device images round trip: `twinkv image create` builds an A‖B image, the
//! core opens it as firmware would (`SharedFlashRegion` halves of a
//! partition on a `SimFlash` chip, read and write), reads every value back
//! (a postcard value too), writes; the whole chip is dumped and read back
//! with `twinkv inspect --offset` and `twinkv export --offset`.
//!
//! Geometries: write unit 4 and 32, erase unit 4 KiB and 128 KiB. Everything
//! is generated in a temporary directory at test time (no file outside this
//! crate is read).

use std::cell::RefCell;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use twinkv_core::{Config, FixedIndex, SharedFlashRegion, SimFlash, Store as CoreStore};

const BIN: &str = env!("CARGO_BIN_EXE_twinkv");
const STORE_ID: u64 = 0x0005_EED0_F1A5_4000;
/// Where the partition starts in the chip (an ESP-IDF-style NVS offset).
const PARTITION: u32 = 0x9000;

fn twinkv(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(!err.contains("panicked"), "{err}");
    (o.status.code().unwrap(), out, err)
}

/// What firmware stores with postcard (`Store::set_as` on the host).
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Calibration {
    offset: i16,
    gain: f32,
    label: String,
    points: Vec<u16>,
}

fn calibration() -> Calibration {
    Calibration {
        offset: -12,
        gain: 1.25,
        label: "line 3".into(),
        points: vec![1, 300, 65535],
    }
}

/// The entries every image holds: text, bytes that are not UTF-8 (as key and
/// as value), an empty value, a value of the limit's length, and many small
/// ones (enough to spread over more than one erase unit at W = 32 and 4 KiB).
fn entries(max_value: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"wifi/ssid".to_vec(), b"factory-net".to_vec()),
        (
            b"wifi/pass".to_vec(),
            "pässwörd \"q\"\n".as_bytes().to_vec(),
        ),
        (b"empty".to_vec(), Vec::new()),
        (vec![0xFF, 0x00, 0x7F], b"binary key".to_vec()),
        (b"mac".to_vec(), vec![0x02, 0x00, 0xC3, 0x28, 0xFE, 0xFF]),
        (b"big".to_vec(), (0..max_value).map(|i| i as u8).collect()),
        (
            b"calibration".to_vec(),
            postcard::to_allocvec(&calibration()).unwrap(),
        ),
    ];
    for i in 0..120 {
        v.push((
            format!("serial/{i:03}").into_bytes(),
            format!("unit-{}", i * 7).into_bytes(),
        ));
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The entries as `export` writes them (text when UTF-8, else hex).
fn to_json(entries: &[(Vec<u8>, Vec<u8>)]) -> String {
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|(k, v)| {
            let mut m = serde_json::Map::new();
            match std::str::from_utf8(k) {
                Ok(s) => m.insert("key".into(), s.into()),
                Err(_) => m.insert("key_hex".into(), hex(k).into()),
            };
            match std::str::from_utf8(v) {
                Ok(s) => m.insert("value".into(), s.into()),
                Err(_) => m.insert("value_hex".into(), hex(v).into()),
            };
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap()
}

fn parse_export(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let items: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(text).unwrap();
    items
        .iter()
        .map(|m| {
            let get = |name: &str| match (m.get(name), m.get(&format!("{name}_hex"))) {
                (Some(t), None) => t.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(h)) => unhex(h.as_str().unwrap()),
                other => panic!("{name}: {other:?}"),
            };
            (get("key"), get("value"))
        })
        .collect()
}

fn sorted(mut v: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    v.sort();
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One geometry: create, open on the simulated device, read every value,
/// write, dump the chip, read it back with the CLI.
fn round_trip<const W: usize, const E: usize>(region: u32) {
    let (max_key, max_value) = (32u16, 200u32);
    let d = tempfile::tempdir().unwrap();
    let want = entries(max_value as usize);
    let settings = d.path().join("settings.json");
    std::fs::write(&settings, to_json(&want)).unwrap();
    let image = d.path().join("image.bin");
    let (w, e, r) = (W.to_string(), E.to_string(), region.to_string());
    let (code, out, err) = twinkv(&[
        "image",
        "create",
        "--write-size",
        &w,
        "--erase-size",
        &e,
        "--region-size",
        &r,
        "--store-id",
        &format!("{STORE_ID:#x}"),
        "--limits",
        &format!("{max_key},{max_value}"),
        "--from",
        s(&settings),
        "-o",
        s(&image),
    ]);
    assert_eq!(code, 0, "W={W} E={E}: {err}");
    assert!(
        out.contains(&format!("store id {STORE_ID:#018x}"))
            && out.contains(&format!("{} keys", want.len())),
        "{out}"
    );
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes.len(), 2 * region as usize);

    // The chip: the partition at PARTITION, erased bytes around it.
    type Chip<const W: usize, const E: usize> = SimFlash<Vec<u8>, W, E, 1>;
    let chip_size = PARTITION.next_multiple_of(E as u32) + 2 * region + E as u32;
    let at = PARTITION.next_multiple_of(E as u32);
    let mut storage = vec![0u8; Chip::<W, E>::storage_len(chip_size)];
    storage[..chip_size as usize].fill(0xFF);
    storage[at as usize..(at + 2 * region) as usize].copy_from_slice(&bytes);
    let chip = RefCell::new(Chip::<W, E>::with_contents(storage, chip_size).unwrap());
    let config = Config::new(STORE_ID).with_limits(max_key, max_value);
    let mut scratch = vec![
            0u8;
            CoreStore::<SharedFlashRegion<'_, Chip<W, E>>, FixedIndex<256>, Vec<u8>>::scratch_len(
                &config, W as u32
            )
        ];
    {
        let (a, b) = SharedFlashRegion::halves(&chip, at, 2 * region).unwrap();
        let mut store =
            CoreStore::open(a, b, FixedIndex::<256>::new(), &mut scratch[..], config).unwrap();
        let st = store.stats();
        assert_eq!(
            (st.live_keys, st.damaged_keys, st.dirty_tail, st.store_id),
            (want.len(), 0, false, STORE_ID),
            "W={W} E={E}"
        );
        let mut buf = vec![0u8; max_value as usize];
        for (k, v) in &want {
            let n = store.get(k, &mut buf).unwrap().expect("every key is there");
            assert_eq!(&buf[..n], &v[..], "W={W} E={E} key {k:?}");
        }
        // The typed value decodes as firmware reads it.
        let n = store.get(b"calibration", &mut buf).unwrap().unwrap();
        assert_eq!(
            postcard::from_bytes::<Calibration>(&buf[..n]).unwrap(),
            calibration()
        );
        // The device goes on writing to it.
        store.set(b"boot_count", b"1").unwrap();
        store.remove(b"empty").unwrap();
        store.compact().unwrap();
        store.set(b"boot_count", b"2").unwrap();
    }
    let mut after = want.clone();
    after.retain(|(k, _)| k != b"empty");
    after.push((b"boot_count".to_vec(), b"2".to_vec()));
    let after = sorted(after);

    // Dump the whole chip and read it back at the partition's offset.
    let dump = d.path().join("chip.bin");
    std::fs::write(&dump, &chip.borrow().as_bytes()[..chip_size as usize]).unwrap();
    let offset = format!("{at:#x}");
    let image_args = [
        "--write-size",
        &w,
        "--erase-size",
        &e,
        "--region-size",
        &r,
        "--offset",
        &offset,
    ];
    let mut args = vec!["export", s(&dump)];
    args.extend_from_slice(&image_args);
    let (code, out, err) = twinkv(&args);
    assert_eq!(code, 0, "W={W} E={E}: {err}");
    assert_eq!(parse_export(&out), after, "W={W} E={E}");

    let mut args = vec!["inspect", s(&dump), "--json"];
    args.extend_from_slice(&image_args);
    let (code, out, err) = twinkv(&args);
    assert_eq!(code, 0, "W={W} E={E}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "twinkv.inspect.v1");
    assert_eq!(v["verdict"], "clean", "{out}");
    assert_eq!(v["image"]["offset"], at);
    assert_eq!(
        v["regions"][1]["header"]["generation"], 2,
        "compacted into B"
    );
    assert_eq!(v["regions"][1]["header"]["write_unit"], W);
    assert_eq!(v["regions"][1]["header"]["erase_unit"], E);
    assert_eq!(
        parse_export(&v["entries"].to_string()),
        after,
        "W={W} E={E}"
    );

    // The image as created, read back the same way (no offset: half each).
    let (code, out, _) = twinkv(&["export", s(&image), "--write-size", &w, "--erase-size", &e]);
    assert_eq!(code, 0);
    assert_eq!(parse_export(&out), sorted(want));
}

#[test]
fn write_unit_4_erase_4k() {
    let _serial = crate::serial();
    round_trip::<4, 4096>(8192);
}

#[test]
fn write_unit_4_erase_128k() {
    let _serial = crate::serial();
    round_trip::<4, { 128 * 1024 }>(128 * 1024);
}

#[test]
fn write_unit_32_erase_4k() {
    let _serial = crate::serial();
    round_trip::<32, 4096>(8192);
}

#[test]
fn write_unit_32_erase_128k() {
    let _serial = crate::serial();
    round_trip::<32, { 128 * 1024 }>(256 * 1024);
}

/// The typed-value workflow of the README: values written with
/// `Store::set_as` on a host store, exported, built into an image; firmware
/// decodes them with postcard.
#[test]
fn typed_values_through_a_host_store() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("factory");
    {
        let mut st =
            twinkv_host::Store::open(&base, twinkv_host::Options::new().region_size(8192)).unwrap();
        st.set_as("calibration", &calibration()).unwrap();
        st.set_as("threshold", &-40i32).unwrap();
    }
    // --snapshot: the other tests of this file spawn processes meanwhile, and
    // a child forked while the store above was open keeps its lock until it
    // execs; a snapshot reads without the lock.
    let (code, json, err) = twinkv(&["export", s(&base), "--snapshot"]);
    assert_eq!(code, 0, "{err}");
    let settings = d.path().join("settings.json");
    std::fs::write(&settings, &json).unwrap();
    let image = d.path().join("image.bin");
    let (code, _, err) = twinkv(&[
        "image",
        "create",
        "--write-size",
        "8",
        "--erase-size",
        "4K",
        "--region-size",
        "8K",
        "--store-id",
        "24301",
        "--from",
        s(&settings),
        "-o",
        s(&image),
    ]);
    assert_eq!(code, 0, "{err}");
    type Chip = SimFlash<Vec<u8>, 8, 4096, 1>;
    let bytes = std::fs::read(&image).unwrap();
    let mut storage = vec![0u8; Chip::storage_len(16384)];
    storage[..16384].copy_from_slice(&bytes);
    let chip = RefCell::new(Chip::with_contents(storage, 16384).unwrap());
    let (a, b) = SharedFlashRegion::halves(&chip, 0, 16384).unwrap();
    let mut scratch = [0u8; 4096];
    let mut store = CoreStore::open(
        a,
        b,
        FixedIndex::<8>::new(),
        &mut scratch[..],
        Config::new(24301),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = store.get(b"calibration", &mut buf).unwrap().unwrap();
    assert_eq!(
        postcard::from_bytes::<Calibration>(&buf[..n]).unwrap(),
        calibration()
    );
    let n = store.get(b"threshold", &mut buf).unwrap().unwrap();
    assert_eq!(postcard::from_bytes::<i32>(&buf[..n]).unwrap(), -40);
}

/// The bytes the README's example puts in `settings.json` are the postcard
/// encoding of its `Calibration { offset: -12, gain: 1.25 }`.
#[test]
fn readme_postcard_bytes() {
    let _serial = crate::serial();
    #[derive(Serialize)]
    struct Calibration {
        offset: i16,
        gain: f32,
    }
    let bytes = postcard::to_allocvec(&Calibration {
        offset: -12,
        gain: 1.25,
    })
    .unwrap();
    assert_eq!(hex(&bytes), "170000a03f");
}

/// The same input gives the same image (the store id is derived from it);
/// options that do not fit are refused before anything is written.
#[test]
fn reproducible_and_refusals() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let settings = d.path().join("settings.json");
    std::fs::write(&settings, to_json(&entries(100))).unwrap();
    // (write unit, erase unit, region size) and more options.
    let make = |name: &str, geo: [&str; 3], extra: &[&str]| {
        let out = d.path().join(name);
        let mut args = vec![
            "image",
            "create",
            "--write-size",
            geo[0],
            "--erase-size",
            geo[1],
            "--region-size",
            geo[2],
            "--from",
            s(&settings),
            "-o",
            s(&out),
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = twinkv(&args);
        (code, stdout, stderr, out)
    };
    let geo = ["4", "4K", "8K"];
    let (c1, o1, _, p1) = make("one.bin", geo, &[]);
    let (c2, o2, _, p2) = make("two.bin", geo, &[]);
    assert_eq!((c1, c2), (0, 0));
    assert!(o1.contains("derived from the contents"), "{o1}");
    assert_eq!(o1.replace("one.bin", ""), o2.replace("two.bin", ""));
    assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
    // A value over the limit, entries that do not fit, a geometry that is not one.
    for (name, geo, extra, code, what) in [
        (
            "a.bin",
            geo,
            &["--limits", "63,16"][..],
            4,
            "exceed the limits",
        ),
        (
            "b.bin",
            ["4", "512", "1K"],
            &["--limits", "32,128"],
            4,
            "larger --region-size",
        ),
        ("c.bin", ["3", "4K", "8K"], &[], 2, "valid geometry"),
        ("d.bin", geo, &["--store-id", "0"], 2, "never 0"),
        (
            "e.bin",
            geo,
            &["--ratios", "9500,9000"],
            2,
            "HIGH_WATER,MAX_FILL",
        ),
        ("f.bin", ["4", "4K", "6K"], &[], 2, "valid geometry"),
    ] {
        let (c, _, err, p) = make(name, geo, extra);
        assert_eq!(c, code, "{extra:?}: {err}");
        assert!(err.contains(what), "{extra:?}: {err}");
        assert!(!p.exists(), "{extra:?}: nothing written");
    }
}
