//! Format fixtures (FORMAT.md §9): the images in `tests/fixtures/`, made by
//! the generator in `tests/fixtures_gen/`, must open with the current reader
//! and answer what their manifest says; the generator must still produce
//! them byte for byte.
//!
//! Regenerate (only for an unreleased format version, see
//! `tests/fixtures/README.md`):
//! `TWINKV_REGEN_FIXTURES=1 cargo test -p twinkv-core --test it fixtures::regenerate`

#[path = "fixtures_gen/mod.rs"]
mod fixtures_gen;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};

use fixtures_gen::{
    build_all, census, manifest, parse_manifest, quote, Answer, Fixture, Pinned, RELEASED_VERSIONS,
    VERSION,
};
use twinkv_core::{Error, FixedIndex, RamRegion, Region, Store};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn manifest_name(version: u16) -> String {
    format!("v{version}.manifest")
}

/// Every `v<N>.manifest` in the directory, with its version.
fn manifests() -> Vec<(u16, PathBuf)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir()).expect("tests/fixtures") {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(v) = name
            .strip_prefix('v')
            .and_then(|n| n.strip_suffix(".manifest"))
        {
            let v: u16 = v.parse().unwrap_or_else(|_| panic!("bad manifest {name}"));
            out.push((v, dir().join(name)));
        }
    }
    out.sort();
    out
}

/// The committed fixtures: every manifest, with both images read.
fn committed() -> Vec<Fixture> {
    let mut out = Vec::new();
    for (v, path) in manifests() {
        let text = fs::read_to_string(&path).unwrap();
        let list = parse_manifest(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for mut f in list {
            assert_eq!(f.version, v, "{} lists {}", path.display(), f.file_stem());
            let stem = f.file_stem();
            let read = |ext: &str| {
                let p = dir().join(format!("{stem}.{ext}"));
                fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            };
            f.a = read("a");
            f.b = read("b");
            out.push(f);
        }
    }
    out
}

// ----- checking one fixture --------------------------------------------------

type St<'r, R> = Store<&'r mut R, FixedIndex<64>, Vec<u8>>;

const PROBE_KEY: &[u8] = b"probe";
const PROBE_VALUE: &[u8] = b"written by the current reader";

fn answer<R: Region>(s: &mut St<'_, R>, key: &[u8]) -> Result<Answer, String>
where
    R::Error: Debug,
{
    let mut buf = vec![0u8; 1 << 16];
    match s.get(key, &mut buf) {
        Ok(Some(n)) => Ok(Answer::Value(buf[..n].to_vec())),
        Ok(None) => Ok(Answer::Absent),
        Err(Error::Corrupted) => Ok(Answer::Corrupted),
        Err(e) => Err(format!("get {}: {e:?}", quote(key))),
    }
}

/// Every listed key answers as expected, and `for_each` visits exactly the
/// keys with a value (reporting `Corrupted` at the end iff `damaged`).
fn check_keys<R: Region>(
    s: &mut St<'_, R>,
    keys: &BTreeMap<Vec<u8>, Answer>,
    damaged: bool,
    errs: &mut Vec<String>,
) where
    R::Error: Debug,
{
    for (k, want) in keys {
        match answer(s, k) {
            Ok(got) if &got == want => {}
            Ok(got) => errs.push(format!("key {}: {got:?}, expected {want:?}", quote(k))),
            Err(e) => errs.push(e),
        }
    }
    let mut seen = BTreeMap::new();
    let r = s.for_each(|k, v| {
        seen.insert(k.to_vec(), v.to_vec());
        true
    });
    let values: BTreeMap<Vec<u8>, Vec<u8>> = keys
        .iter()
        .filter_map(|(k, a)| match a {
            Answer::Value(v) => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect();
    if seen != values {
        let extra: Vec<_> = seen
            .keys()
            .filter(|k| !values.contains_key(*k))
            .map(|k| quote(k))
            .collect();
        let missing: Vec<_> = values
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .map(|k| quote(k))
            .collect();
        errs.push(format!(
            "for_each: extra {extra:?}, missing {missing:?} (or values differ)"
        ));
    }
    match (r, damaged) {
        (Ok(()), false) | (Err(Error::Corrupted), true) => {}
        (r, _) => errs.push(format!("for_each returned {r:?} with damaged={damaged}")),
    }
}

fn check_stats(errs: &mut Vec<String>, what: &str, got: &Pinned, want: &Pinned) {
    if got != want {
        errs.push(format!("{what} stats:\n   got {got:?}\n  want {want:?}"));
    }
}

fn read_all<R: Region>(r: &mut R) -> Vec<u8>
where
    R::Error: Debug,
{
    let mut buf = vec![0u8; r.geometry().size as usize];
    r.read(0, &mut buf).expect("read back");
    buf
}

/// Opens the fixture read-only and writable over regions `make` builds from
/// the images, and returns every mismatch with its manifest.
fn check_with<R: Region>(f: &Fixture, make: impl Fn(&[u8]) -> R) -> Vec<String>
where
    R::Error: Debug,
{
    let mut errs = Vec::new();
    let scratch = || vec![0u8; St::<R>::scratch_len(&f.config, f.geometry.write_unit)];
    let damaged = f.stats.damaged_keys > 0;

    // Read-only: answers, stats, and not one byte written.
    let (mut a, mut b) = (make(&f.a), make(&f.b));
    match Store::open_read_only(&mut a, &mut b, FixedIndex::new(), scratch(), f.config) {
        Err(e) => errs.push(format!("read-only open: {e:?}")),
        Ok(mut s) => {
            let st = s.stats();
            check_stats(&mut errs, "read-only", &Pinned::of(&st), &f.stats);
            if !st.read_only || st.salvaged {
                errs.push(format!("read-only open: {st:?}"));
            }
            check_keys(&mut s, &f.keys, damaged, &mut errs);
            if !matches!(s.set(PROBE_KEY, PROBE_VALUE), Err(Error::ReadOnly)) {
                errs.push("read-only store accepted a write".into());
            }
        }
    }
    if read_all(&mut a) != f.a || read_all(&mut b) != f.b {
        errs.push("read-only open changed the images".into());
    }

    // Writable, on a copy: same answers (an unfinished switch is finished by
    // the open), then one write, then a reopen that still reads everything.
    // Without erase ahead, so that the probe write leaves the old region's
    // "superseded" marker to be checked below.
    let (mut a, mut b) = (make(&f.a), make(&f.b));
    let config = f.config.with_erase_ahead(false);
    match Store::open(&mut a, &mut b, FixedIndex::new(), scratch(), config) {
        Err(e) => errs.push(format!("writable open: {e:?}")),
        Ok(mut s) => {
            let want = Pinned {
                unfinished_switch: false,
                ..f.stats
            };
            check_stats(&mut errs, "writable", &Pinned::of(&s.stats()), &want);
            check_keys(&mut s, &f.keys, damaged, &mut errs);
            if let Err(e) = s.set(PROBE_KEY, PROBE_VALUE) {
                errs.push(format!("writable: set: {e:?}"));
            }
        }
    }
    if f.stats.unfinished_switch {
        // The open programmed "superseded" into the old region first.
        let old = if f.stats.active == twinkv_core::RegionId::A {
            read_all(&mut b)
        } else {
            read_all(&mut a)
        };
        if !census(&old, f.geometry.write_unit, &f.config).contains("superseded=valid") {
            errs.push("writable open did not finish the switch".into());
        }
    }
    let mut keys = f.keys.clone();
    keys.insert(PROBE_KEY.to_vec(), Answer::Value(PROBE_VALUE.to_vec()));
    match Store::open(&mut a, &mut b, FixedIndex::new(), scratch(), f.config) {
        Err(e) => errs.push(format!("reopen after a write: {e:?}")),
        Ok(mut s) => {
            let st = s.stats();
            if st.generation < f.stats.generation || st.dirty_tail || st.unfinished_switch {
                errs.push(format!("reopen after a write: {st:?}"));
            }
            let mut e2 = Vec::new();
            check_keys(&mut s, &keys, st.damaged_keys > 0, &mut e2);
            errs.extend(e2.into_iter().map(|e| format!("after a write: {e}")));
        }
    }
    errs
}

fn ram(f: &Fixture) -> impl Fn(&[u8]) -> RamRegion<Vec<u8>> + '_ {
    move |img| fixtures_gen::region_with(img, f.geometry, f.in_order())
}

/// Structure (sizes, census) and behaviour on RAM regions.
fn check(f: &Fixture) -> Vec<String> {
    let mut errs = Vec::new();
    for (r, img) in [("A", &f.a), ("B", &f.b)] {
        if img.len() != f.geometry.size as usize {
            errs.push(format!(
                "region {r}: {} bytes, manifest says {}",
                img.len(),
                f.geometry.size
            ));
            return errs;
        }
    }
    let w = f.geometry.write_unit;
    for (i, img) in [&f.a, &f.b].into_iter().enumerate() {
        let got = census(img, w, &f.config);
        if got != f.regions[i] {
            errs.push(format!(
                "region {}:\n   got {got}\n  want {}",
                ["A", "B"][i],
                f.regions[i]
            ));
        }
    }
    errs.extend(check_with(f, ram(f)));
    errs
}

fn report(f: &Fixture, errs: &[String]) -> String {
    format!("{}:\n  {}", f.file_stem(), errs.join("\n  "))
}

// ----- tests -----------------------------------------------------------------

#[test]
fn every_fixture_opens_and_answers_its_manifest() {
    let all = committed();
    assert!(!all.is_empty(), "no fixtures");
    let failures: Vec<String> = all
        .iter()
        .map(|f| (f, check(f)))
        .filter(|(_, e)| !e.is_empty())
        .map(|(f, e)| report(f, &e))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same images through the embedded-storage adapter over the flash
/// simulator (every fixture whose medium persists in order).
#[cfg(feature = "flash-sim")]
#[test]
fn in_order_fixtures_open_through_flash_region_over_sim_flash() {
    use twinkv_core::{FlashRegion, SimFlash};
    fn sim<const W: usize, const E: usize>(
        f: &Fixture,
    ) -> impl Fn(&[u8]) -> FlashRegion<SimFlash<Vec<u8>, W, E>> + '_ {
        move |img| {
            let size = f.geometry.size;
            let mut storage = vec![0u8; SimFlash::<Vec<u8>, W, E>::storage_len(size)];
            storage[..img.len()].copy_from_slice(img);
            FlashRegion::whole(SimFlash::with_contents(storage, size).unwrap()).unwrap()
        }
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in committed().iter().filter(|f| f.in_order()) {
        let errs = match (f.geometry.write_unit, f.geometry.erase_unit) {
            (1, 256) => check_with(f, sim::<1, 256>(f)),
            (4, 256) => check_with(f, sim::<4, 256>(f)),
            (4, 512) => check_with(f, sim::<4, 512>(f)),
            (16, 512) => check_with(f, sim::<16, 512>(f)),
            (32, 1024) => check_with(f, sim::<32, 1024>(f)),
            (w, e) => vec![format!("add a SimFlash arm for W = {w}, E = {e}")],
        };
        checked += 1;
        if !errs.is_empty() {
            failures.push(report(f, &errs));
        }
    }
    assert!(checked > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The generator still makes the committed images and manifest byte for byte
/// (a format change that alters bytes shows here). With
/// `TWINKV_REGEN_FIXTURES=1` it writes them instead.
#[test]
fn regenerate() {
    let fresh = build_all();
    let text = manifest(&fresh);
    let files: Vec<(String, Vec<u8>)> =
        std::iter::once((manifest_name(VERSION), text.into_bytes()))
            .chain(fresh.iter().flat_map(|f| {
                [
                    (format!("{}.a", f.file_stem()), f.a.clone()),
                    (format!("{}.b", f.file_stem()), f.b.clone()),
                ]
            }))
            .collect();
    if std::env::var_os("TWINKV_REGEN_FIXTURES").is_some_and(|v| v == "1") {
        fs::create_dir_all(dir()).unwrap();
        for (name, bytes) in &files {
            let path = dir().join(name);
            let old = fs::read(&path).ok();
            if old.as_deref() == Some(&bytes[..]) {
                continue;
            }
            assert!(
                !RELEASED_VERSIONS.contains(&VERSION) || old.is_none(),
                "{name}: format version {VERSION} was released, its fixtures are frozen \
                 (FORMAT.md §9): a change that alters its bytes needs a new version"
            );
            fs::write(&path, bytes).unwrap();
            eprintln!("wrote {}", path.display());
        }
        return;
    }
    let mut diffs = Vec::new();
    for (name, bytes) in &files {
        match fs::read(dir().join(name)) {
            Err(e) => diffs.push(format!("{name}: {e}")),
            Ok(old) if old == *bytes => {}
            Ok(old) if name.ends_with(".manifest") => {
                let (old, new) = (
                    String::from_utf8_lossy(&old),
                    String::from_utf8_lossy(bytes),
                );
                let first = old
                    .lines()
                    .zip(new.lines())
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("\n  committed: {a}\n  generated: {b}"))
                    .unwrap_or_default();
                diffs.push(format!("{name} differs{first}"));
            }
            Ok(old) => {
                let at = old.iter().zip(bytes).position(|(a, b)| a != b);
                diffs.push(format!(
                    "{name} differs: {} vs {} bytes, first difference at {at:?}",
                    old.len(),
                    bytes.len()
                ));
            }
        }
    }
    let stems: BTreeSet<String> = fresh.iter().map(Fixture::file_stem).collect();
    for f in committed().iter().filter(|f| f.version == VERSION) {
        if !stems.contains(&f.file_stem()) {
            diffs.push(format!(
                "{} is committed but no longer generated",
                f.file_stem()
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "the generator no longer reproduces the committed fixtures of format version \
         {VERSION}:\n{}\nIf the format version is unreleased and the change is intended, \
         regenerate (tests/fixtures/README.md); a released version's fixtures never change.",
        diffs.join("\n")
    );
}

#[test]
fn every_fixture_file_is_listed() {
    let listed: BTreeSet<String> = committed().iter().map(Fixture::file_stem).collect();
    let mut on_disk = BTreeSet::new();
    let mut stray = Vec::new();
    let mut total = 0u64;
    for e in fs::read_dir(dir()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        total += e.metadata().unwrap().len();
        if name == "README.md"
            || name == ".gitattributes"
            || manifests().iter().any(|(v, _)| manifest_name(*v) == name)
        {
            continue;
        }
        match name.rsplit_once('.') {
            Some((stem, "a" | "b")) if listed.contains(stem) => {
                on_disk.insert(name);
            }
            _ => stray.push(name),
        }
    }
    assert!(
        stray.is_empty(),
        "files not listed in a manifest: {stray:?}"
    );
    for stem in &listed {
        for ext in ["a", "b"] {
            let name = format!("{stem}.{ext}");
            assert!(on_disk.contains(&name), "{name} is listed but missing");
        }
    }
    assert!(total < 200 * 1024, "fixtures take {total} bytes");
    for f in committed() {
        assert!(
            f.a.len() + f.b.len() <= 8 * 1024,
            "{}: keep fixtures small",
            f.file_stem()
        );
    }
}

/// The checks above can fail: wrong expectations and a damaged image are
/// each reported.
#[test]
fn the_checker_reports_wrong_expectations() {
    let all = committed();
    let f = all
        .iter()
        .find(|f| f.name == "ram-batch")
        .expect("ram-batch fixture");
    assert!(check(f).is_empty());
    let key = |k: &[u8]| k.to_vec();
    let mut cases: Vec<(&str, Fixture)> = Vec::new();
    let mut m = f.clone();
    m.keys
        .insert(key(b"mode"), Answer::Value(b"manual".to_vec()));
    cases.push(("older value", m));
    let mut m = f.clone();
    m.keys.insert(key(b"light"), Answer::Value(b"on".to_vec()));
    cases.push(("deleted key", m));
    let mut m = f.clone();
    m.keys.insert(key(b"fan"), Answer::Corrupted);
    cases.push(("corrupted", m));
    let mut m = f.clone();
    m.keys.insert(key(b"nothing"), Answer::Corrupted);
    cases.push(("absent as corrupted", m));
    let mut m = f.clone();
    m.stats.generation += 1;
    cases.push(("generation", m));
    let mut m = f.clone();
    m.stats.dirty_tail = true;
    cases.push(("dirty tail", m));
    let mut m = f.clone();
    m.stats.damage_found_at_open = 1;
    cases.push(("damage count", m));
    let mut m = f.clone();
    m.stats.used_bytes -= 4;
    cases.push(("used bytes", m));
    let mut m = f.clone();
    m.regions[1] = "generation 1 switching=erased".into();
    cases.push(("census", m));
    let mut m = f.clone();
    let d = twinkv_core::format::Layout::new(4).data_start() as usize;
    m.a[d + 9] ^= 0x04;
    cases.push(("flipped bit in the first record", m));
    let mut m = f.clone();
    m.config.max_value_len += 1;
    cases.push(("limits", m));
    for (what, m) in cases {
        assert!(!check(&m).is_empty(), "{what}: not reported");
    }
}
