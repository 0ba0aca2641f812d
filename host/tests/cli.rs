//! The `twinkv` command line: every subcommand and exit code.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use twinkv_host::inspect::analyze_region;
use twinkv_host::{Options, Store};

const BIN: &str = env!("CARGO_BIN_EXE_twinkv");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn twinkv(args: &[&str], stdin: Option<&[u8]>) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            i.write_all(data).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    let out = Out {
        code: o.status.code().expect("exited by a signal"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        out.stderr.lines().count() <= 1 || out.code == 2,
        "one stderr line: {}",
        out.stderr
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("st");
    (d, base)
}

#[test]
fn set_get_rm_list_dump() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let b = s(&base);
    assert_eq!(twinkv(&["set", b, "greeting", "hello"], None).code, 0);
    assert_eq!(
        twinkv(&["set", b, "name", "-"], Some(b"from stdin")).code,
        0
    );
    assert_eq!(twinkv(&["set", b, "empty", ""], None).code, 0);
    let o = twinkv(&["get", b, "greeting"], None);
    assert_eq!((o.code, o.stdout.as_str()), (0, "hello\n"));
    let o = twinkv(&["get", b, "name", "-n"], None);
    assert_eq!((o.code, o.stdout.as_str()), (0, "from stdin"));
    let o = twinkv(&["get", b, "missing"], None);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no such key"));
    let o = twinkv(&["list", b], None);
    assert_eq!(o.stdout, "empty\ngreeting\nname\n");
    let o = twinkv(&["dump", b], None);
    assert_eq!(
        o.stdout,
        "\"empty\" = \"\"\n\"greeting\" = \"hello\"\n\"name\" = \"from stdin\"\n"
    );
    assert_eq!(twinkv(&["rm", b, "greeting"], None).code, 0);
    assert_eq!(twinkv(&["rm", b, "greeting"], None).code, 1);
    assert_eq!(twinkv(&["get", b, "greeting"], None).code, 1);
    // The library sees the same store.
    let st = Store::open_read_only(&base).unwrap();
    assert_eq!(st.get("name").unwrap(), Some(&b"from stdin"[..]));
    assert_eq!(st.region_sizes(), (1 << 20, 1 << 20));
}

#[test]
fn json_dump_export_import_round_trip() {
    let _serial = crate::serial();
    let (d, base) = setup();
    {
        let mut st = Store::open(&base, Options::new().region_size(8192)).unwrap();
        st.set("text", "héllo \"quoted\"\n").unwrap();
        st.set([0xFF, 0x00, 0x01], "binary key").unwrap();
        st.set("binary value", [0xC3, 0x28]).unwrap();
    }
    let b = s(&base);
    let dump = twinkv(&["dump", b, "--json"], None);
    assert_eq!(dump.code, 0);
    assert!(
        dump.stdout
            .contains(r#"{"key":"binary value","value_hex":"c328"}"#),
        "{}",
        dump.stdout
    );
    assert!(
        dump.stdout
            .contains(r#"{"key_hex":"ff0001","value":"binary key"}"#),
        "{}",
        dump.stdout
    );
    let export = twinkv(&["export", b], None);
    assert_eq!(export.stdout, dump.stdout);
    let file = d.path().join("e.json");
    std::fs::write(&file, &export.stdout).unwrap();
    let other = d.path().join("copy");
    let o = twinkv(&["import", s(&other), s(&file)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(twinkv(&["export", s(&other)], None).stdout, export.stdout);
    // From stdin, into an existing store.
    let o = twinkv(
        &["import", s(&other), "-"],
        Some(br#"[{"key":"new","value":"1"}]"#),
    );
    assert_eq!(o.code, 0);
    assert_eq!(twinkv(&["get", s(&other), "new"], None).stdout, "1\n");
    // Bad JSON: exit 4, nothing written.
    for bad in [
        &b"not json"[..],
        br#"[{"key":"a"}]"#,
        br#"[{"key":"a","key_hex":"00","value":"x"}]"#,
        br#"[{"key_hex":"zz","value":"x"}]"#,
    ] {
        let o = twinkv(&["import", s(&other), "-"], Some(bad));
        assert_eq!(o.code, 4, "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(twinkv(&["list", s(&other)], None).stdout.lines().count(), 4);
}

#[test]
fn stats_compact_resize_and_create_options() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let b = s(&base);
    assert_eq!(
        twinkv(
            &["set", b, "k", "v", "--size", "8K", "--high-water", "40"],
            None
        )
        .code,
        0
    );
    let o = twinkv(&["stats", b], None);
    assert_eq!(o.code, 0);
    for want in [
        "region A, generation 1",
        "(8192 B)",
        "high-water    40.0 %",
        "keys          1",
        "state         clean",
        "used ",
    ] {
        assert!(o.stdout.contains(want), "{want}: {}", o.stdout);
    }
    let o = twinkv(&["compact", b], None);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("region B, generation 2"), "{}", o.stdout);
    let o = twinkv(&["resize", b, "16K"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = twinkv(&["stats", b, "--snapshot"], None);
    assert!(o.stdout.contains("(16384 B)"), "{}", o.stdout);
    // The region size is a minimum: a larger store opens at its own size, a
    // smaller one is refused with the figures and the remedy.
    let o = twinkv(&["set", b, "k", "v", "--size", "4K"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = twinkv(&["set", b, "k", "v", "--size", "32K"], None);
    assert_eq!(o.code, 4);
    assert!(o.stderr.contains("region size"), "{}", o.stderr);
    assert!(o.stderr.contains("16384"), "{}", o.stderr);
    assert!(o.stderr.contains("32768"), "{}", o.stderr);
    assert!(o.stderr.contains("twinkv resize"), "{}", o.stderr);
    assert_eq!(twinkv(&["get", b, "k"], None).stdout, "v\n");
}

#[test]
fn usage_errors_and_missing_stores() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    let b = s(&base);
    for args in [
        &[][..],
        &["frobnicate"],
        &["get", b],
        &["set", b, "k"],
        &["set", b, "k", "v", "--size", "lots"],
        &["set", b, "k", "v", "--high-water", "150"],
        &["repair"],
    ] {
        let o = twinkv(args, None);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
    }
    let o = twinkv(&["--help"], None);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("Exit codes:") && o.stdout.contains("3  corruption found"));
    for args in [
        &["get", b, "k"][..],
        &["rm", b, "k"],
        &["list", b],
        &["stats", b],
        &["verify", b],
        &["compact", b],
        &["dump", b, "--snapshot"],
    ] {
        let o = twinkv(args, None);
        assert_eq!(o.code, 4, "{args:?}");
        assert!(
            o.stderr.starts_with("twinkv: ") && o.stderr.contains("no such store"),
            "{args:?}: {}",
            o.stderr
        );
    }
    assert!(
        !twinkv_host::region_paths(&base).0.exists(),
        "reading commands create nothing"
    );
    // Limits: a key too long is one line on stderr, exit 4.
    let o = twinkv(&["set", b, &"k".repeat(100), "v"], None);
    assert_eq!(o.code, 4);
    assert!(o.stderr.contains("key is longer"), "{}", o.stderr);
}

/// A store whose first record is damaged before a sync point.
fn corrupt_store(base: &Path) -> u32 {
    let mut st = Store::open(base, Options::new().region_size(4096)).unwrap();
    st.set("victim", "original value").unwrap();
    st.set("bystander", "fine").unwrap();
    st.sync().unwrap();
    drop(st);
    let (a, _) = twinkv_host::region_paths(base);
    let mut bytes = std::fs::read(&a).unwrap();
    let r = analyze_region(&bytes, 4);
    let first = r.records[0].offset;
    bytes[first as usize + 8 + 6 + 3] ^= 0x10; // inside the value
    std::fs::write(&a, &bytes).unwrap();
    first
}

#[test]
fn verify_clean_recoverable_corrupt_and_repair() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let b = s(&base);
    assert_eq!(twinkv(&["set", b, "k", "v", "--size", "4K"], None).code, 0);
    let o = twinkv(&["verify", b], None);
    assert_eq!(o.code, 0);
    assert!(o.stdout.ends_with("verdict: clean\n"), "{}", o.stdout);
    let o = twinkv(&["repair", b], None);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("nothing to repair"));

    // A torn write after the last sync point (a copy cut short: the first
    // bytes of a header, before its check byte, then erased bytes, FORMAT.md
    // §10.1): recoverable, exit 0.
    let (a, _) = twinkv_host::region_paths(&base);
    let mut bytes = std::fs::read(&a).unwrap();
    let end = analyze_region(&bytes, 4).log_end.unwrap() as usize;
    bytes[end..end + 3].copy_from_slice(&[0x21, 0x08, 0x00]);
    std::fs::write(&a, &bytes).unwrap();
    let o = twinkv(&["verify", b, "-v"], None);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(
        o.stdout.contains("torn tail at offset") && o.stdout.ends_with("verdict: recoverable\n"),
        "{}",
        o.stdout
    );
    assert_eq!(twinkv(&["get", b, "k"], None).stdout, "v\n");
    let o = twinkv(&["stats", b], None);
    assert!(o.stdout.contains("dirty tail"), "{}", o.stdout);
    // The next write switches away from the torn tail; then clean again.
    assert_eq!(twinkv(&["set", b, "k2", "v2"], None).code, 0);
    assert!(twinkv(&["verify", b], None)
        .stdout
        .ends_with("verdict: clean\n"));

    // Damage before a sync point: corrupt, exit 3.
    let base2 = d.path().join("bad");
    let b2 = s(&base2);
    let off = corrupt_store(&base2);
    let o = twinkv(&["verify", b2], None);
    assert_eq!(o.code, 3, "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!("at offset {off}")) && o.stdout.ends_with("verdict: corrupt\n"),
        "{}",
        o.stdout
    );
    assert_eq!(twinkv(&["verify", b2, "--snapshot"], None).code, 3);
    let o = twinkv(&["get", b2, "victim"], None);
    assert_eq!(o.code, 3);
    assert!(o.stderr.contains("corrupted"), "{}", o.stderr);
    assert_eq!(twinkv(&["get", b2, "bystander"], None).stdout, "fine\n");
    // repair lists the damage and refuses without --yes.
    let o = twinkv(&["repair", b2], None);
    assert_eq!(o.code, 2);
    assert!(
        o.stdout.contains(&format!("offset {off}: \"victim\"")),
        "{}",
        o.stdout
    );
    assert!(o.stderr.contains("--yes"));
    // dump of a store with a damaged key reports corruption.
    let o = twinkv(&["dump", b2], None);
    assert_eq!(o.code, 3);
    assert_eq!(o.stdout, "\"bystander\" = \"fine\"\n");
    assert!(o.stderr.contains("1 damaged key"), "{}", o.stderr);
    // With --yes the damaged record is dropped; the store is clean again.
    let o = twinkv(&["repair", b2, "--yes"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("repaired: dropped 1"), "{}", o.stdout);
    assert!(twinkv(&["verify", b2], None)
        .stdout
        .ends_with("verdict: clean\n"));
    assert_eq!(twinkv(&["get", b2, "victim"], None).code, 1);
    assert_eq!(twinkv(&["get", b2, "bystander"], None).stdout, "fine\n");
    assert_eq!(twinkv(&["dump", b2], None).code, 0);
}

/// `export --salvage` / `dump --salvage`: what a store that does not open
/// still holds. Its partner file cut to 100 bytes: `export` refuses (exit
/// 4, naming the file and `--salvage`); `export --salvage` prints the
/// entries and exits 3 (the cut file may have held a newer state); the
/// JSON imports into a new store. On a sound store `--salvage` is a plain
/// read (exit 0). Nothing is written to the files.
#[test]
fn export_salvage_reads_a_store_that_does_not_open() {
    let _serial = crate::serial();
    let (d, base) = setup();
    let b = s(&base);
    assert_eq!(
        twinkv(&["set", b, "volume", "7", "--size", "4K"], None).code,
        0
    );
    assert_eq!(twinkv(&["set", b, "mode", "eco"], None).code, 0);
    let o = twinkv(&["dump", b, "--salvage"], None);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "\"mode\" = \"eco\"\n\"volume\" = \"7\"\n")
    );
    let (_, pb) = twinkv_host::region_paths(&base);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pb)
        .unwrap()
        .set_len(100)
        .unwrap();
    let files = |p: &Path| {
        let (a, b) = twinkv_host::region_paths(p);
        (std::fs::read(a).unwrap(), std::fs::read(b).unwrap())
    };
    let before = files(&base);
    let o = twinkv(&["export", b], None);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(
        o.stderr.contains("st.b") && o.stderr.contains("--salvage"),
        "{}",
        o.stderr
    );
    let o = twinkv(&["export", b, "--salvage"], None);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("salvaged"), "{}", o.stderr);
    let saved = d.path().join("saved.json");
    std::fs::write(&saved, &o.stdout).unwrap();
    assert_eq!(files(&base), before, "salvage wrote nothing");
    let fresh = d.path().join("fresh");
    let o = twinkv(&["import", s(&fresh), s(&saved)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(twinkv(&["get", s(&fresh), "volume"], None).stdout, "7\n");
    assert_eq!(twinkv(&["get", s(&fresh), "mode"], None).stdout, "eco\n");
    // Neither file a region: nothing to salvage, exit 4.
    std::fs::write(twinkv_host::region_paths(&base).0, b"junk").unwrap();
    let o = twinkv(&["export", b, "--salvage"], None);
    assert_eq!(o.code, 4);
    assert!(o.stderr.contains("nothing to salvage"), "{}", o.stderr);
}

/// The core store a device image is written with.
type ImageStore<'a> = twinkv_host::core::Store<
    twinkv_host::core::RamRegion<&'a mut [u8]>,
    twinkv_host::core::FixedIndex<16>,
    &'a mut [u8],
>;

/// A device image (region A then region B, 8 KiB each, write unit 8, erase
/// unit 4 KiB) of a store core wrote with `work`, and its active region.
fn core_image(
    work: impl for<'a> FnOnce(&mut ImageStore<'a>),
) -> (Vec<u8>, twinkv_host::core::RegionId) {
    use twinkv_host::core::{Config, FixedIndex, Geometry, RamRegion, Store as CoreStore};
    let geo = Geometry {
        size: 8192,
        read_unit: 1,
        write_unit: 8,
        erase_unit: 4096,
    };
    let len = RamRegion::<&mut [u8]>::storage_len(8192, 8, 4096);
    let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
    let active = {
        let ra = RamRegion::new(&mut a[..], geo).unwrap();
        let rb = RamRegion::new(&mut b[..], geo).unwrap();
        let mut scratch = [0u8; 1024];
        let mut st = CoreStore::open(
            ra,
            rb,
            FixedIndex::<16>::new(),
            &mut scratch[..],
            Config::new(7).with_limits(16, 64),
        )
        .unwrap();
        work(&mut st);
        st.stats().active
    };
    let mut image = a[..8192].to_vec();
    image.extend_from_slice(&b[..8192]);
    (image, active)
}

/// `export --salvage` of a device image whose newest region's header is
/// damaged: plain `export` refuses (exit 3, naming `--salvage`); with it the
/// newest state is read through its commit (core's salvage) and printed,
/// exit 3. On the sound image `--salvage` prints what `export` prints, exit 0.
#[test]
fn export_salvage_of_a_device_image() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let (mut image, active) = core_image(|st| {
        let mut round = 0u32;
        while st.stats().generation < 2 {
            st.set(b"mode", format!("eco {round}").as_bytes()).unwrap();
            round += 1;
        }
        st.set(b"temp", b"21.5").unwrap();
    });
    let path = d.path().join("flash.bin");
    std::fs::write(&path, &image).unwrap();
    let p = s(&path);
    let args = ["export", p, "--write-size", "8", "--erase-size", "4096"];
    let sound = twinkv(&args, None);
    assert_eq!(sound.code, 0, "{}", sound.stderr);
    let o = twinkv(&[&args[..], &["--salvage"]].concat(), None);
    assert_eq!((o.code, &o.stdout), (0, &sound.stdout), "{}", o.stderr);
    // The newest region's header: one bit inside it.
    let at = if active == twinkv_host::core::RegionId::A {
        20
    } else {
        8192 + 20
    };
    image[at] ^= 0x40;
    std::fs::write(&path, &image).unwrap();
    let o = twinkv(&args, None);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("--salvage"), "{}", o.stderr);
    let o = twinkv(&[&args[..], &["--salvage"]].concat(), None);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("salvaged"), "{}", o.stderr);
    assert_eq!(
        o.stdout, sound.stdout,
        "the newest state, through its commit"
    );
    assert_eq!(std::fs::read(&path).unwrap(), image, "nothing written");
}

#[test]
fn inspect_a_device_image() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let (mut image, _) = core_image(|st| {
        st.set(b"temp", b"21.5").unwrap();
        st.set(b"mode", b"eco").unwrap();
        st.remove(b"temp").unwrap();
    });
    let path = d.path().join("flash.bin");
    std::fs::write(&path, &image).unwrap();
    let p = s(&path);
    let o = twinkv(
        &["inspect", p, "--write-size", "8", "--erase-size", "4096"],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    for want in [
        "write unit 8",
        "key \"temp\"",
        "delete",
        "key \"mode\"",
        "intact",
        "region B: empty",
        "verdict: clean",
    ] {
        assert!(o.stdout.contains(want), "{want}: {}", o.stdout);
    }
    // Damage the first record: the records after it make it mid-log damage.
    image[96 + 9] ^= 1;
    std::fs::write(&path, &image).unwrap();
    let o = twinkv(
        &[
            "inspect",
            p,
            "--write-size",
            "8",
            "--erase-size",
            "4096",
            "--region-size",
            "8192",
        ],
        None,
    );
    assert_eq!(o.code, 3, "{}", o.stdout);
    assert!(
        o.stdout.contains("DAMAGED") && o.stdout.contains("verdict: corrupt"),
        "{}",
        o.stdout
    );
    // Nonsense geometry is an error, not a panic.
    let o = twinkv(
        &["inspect", p, "--write-size", "3", "--erase-size", "4096"],
        None,
    );
    assert_ne!(o.code, 0);
    let o = twinkv(
        &[
            "inspect",
            p,
            "--write-size",
            "8",
            "--erase-size",
            "4096",
            "--region-size",
            "99999",
        ],
        None,
    );
    // Invalid options are a usage error.
    assert_eq!(o.code, 2);
}

#[test]
fn demo_switches_five_times_and_checks_out() {
    let _serial = crate::serial();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("demo-dir");
    let o = twinkv(&["demo", "--dir", s(&dir)], None);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let switches: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("switch "))
        .collect();
    assert_eq!(switches.len(), 5, "{}", o.stdout);
    for (i, l) in switches.iter().enumerate() {
        let dir = if i % 2 == 0 { "A -> B" } else { "B -> A" };
        assert!(
            l.contains(dir) && l.contains(&format!("generation {}", i + 2)) && l.contains("live "),
            "{l}"
        );
    }
    assert!(o.stdout.contains("1 KiB regions") && o.stdout.contains("40 %"));
    assert!(
        o.stdout.contains("values check out") && o.stdout.contains("demo ok"),
        "{}",
        o.stdout
    );
    // The files are real and verify clean.
    let base = dir.join("demo");
    assert_eq!(
        std::fs::metadata(twinkv_host::region_paths(&base).0)
            .unwrap()
            .len(),
        1024
    );
    assert!(twinkv(&["verify", s(&base)], None)
        .stdout
        .ends_with("verdict: clean\n"));
    // Not over an existing demo.
    assert_eq!(twinkv(&["demo", "--dir", s(&dir)], None).code, 4);
}

#[test]
fn closed_stdout_ends_quietly() {
    let _serial = crate::serial();
    let (_d, base) = setup();
    {
        let mut st = Store::open(&base, Options::new()).unwrap();
        for i in 0..5000 {
            st.set(format!("key-{i:05}"), format!("value number {i}"))
                .unwrap();
        }
    }
    for cmd in ["dump", "list", "export"] {
        let mut child = Command::new(BIN)
            .arg(cmd)
            .arg(&base)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 10];
        let read = child.stdout.as_mut().unwrap().read_exact(&mut first);
        drop(child.stdout.take()); // like `| head`
        if let Err(e) = read {
            // Say why the command printed less than 10 bytes.
            let o = child.wait_with_output().unwrap();
            panic!(
                "{cmd}: {e}; status {:?}, stderr: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{cmd}");
        assert!(
            o.stderr.is_empty(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
