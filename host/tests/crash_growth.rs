//! Crash test of growth: a child process (this test binary, re-run with
//! `TWINKV_GROWTH_CHILD` set) writes numbered keys into a 4 KiB store that
//! grows by itself (4 → 8 → 16 → 32 KiB) and acknowledges each write on
//! stdout. It dies (SIGKILL, `_test-hooks`) at every counted step of every
//! write that changed a region's size (the extension of the inactive file,
//! which dies half-way), at every third step of the switches while the two
//! sizes differ (the switch into the larger region) and at every 25th step
//! otherwise. After each death the
//! store must verify clean or recoverable, open, and hold every acknowledged
//! write.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use twinkv_host::inspect::{verify_store, Verdict};
use twinkv_host::{Options, Store};

const OPS: u64 = 900;

/// Operation `i`: mostly new keys, some overwrites and deletes.
fn op(i: u64) -> (String, Option<String>) {
    let key = format!("k{:04}", i % 640);
    if i % 17 == 16 {
        (key, None)
    } else {
        (key, Some(format!("v{i}-{}", "x".repeat((i % 11) as usize))))
    }
}

fn options() -> Options {
    Options::new().region_size(4096).limits(16, 48)
}

/// The child: writes ops `0..OPS` into the store at `TWINKV_GROWTH_CHILD`,
/// printing `ack i steps s sizes a b` after each; dies at step
/// `TWINKV_GROWTH_DIE_AT` if set.
#[test]
fn growth_child() {
    let _serial = crate::serial();
    let Ok(base) = std::env::var("TWINKV_GROWTH_CHILD") else {
        return;
    };
    let mut s = Store::open(&base, options()).unwrap();
    let die_at = std::env::var("TWINKV_GROWTH_DIE_AT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    twinkv_host::hooks::die_at_step(die_at);
    let mut out = std::io::stdout().lock();
    for i in 0..OPS {
        let (k, v) = op(i);
        match v {
            Some(v) => s.set(&k, &v).unwrap(),
            None => {
                s.remove(&k).unwrap();
            }
        }
        let (a, b) = s.region_sizes();
        writeln!(
            out,
            "ack {i} steps {} sizes {a} {b}",
            twinkv_host::hooks::steps()
        )
        .unwrap();
        out.flush().unwrap();
    }
}

struct Ack {
    i: u64,
    steps: u64,
    sizes: (u64, u64),
}

/// Runs the child on `base`; returns its acks.
fn run(base: &Path, die_at: Option<u64>) -> Vec<Ack> {
    // The child's name in this test binary: `crash_growth::growth_child`
    // (the module path without the crate's name).
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::growth_child");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([&name, "--exact", "--nocapture", "--test-threads=1"])
        .env("TWINKV_GROWTH_CHILD", base)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(n) = die_at {
        cmd.env("TWINKV_GROWTH_DIE_AT", n.to_string());
    }
    let mut child = cmd.spawn().unwrap();
    let mut acks = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest prints "test growth_child ... " on the first ack's line.
        let Some(at) = line.find("ack ") else {
            continue;
        };
        let w: Vec<&str> = line[at..].split_whitespace().collect();
        if let ["ack", i, "steps", s, "sizes", a, b] = w[..] {
            acks.push(Ack {
                i: i.parse().unwrap(),
                steps: s.parse().unwrap(),
                sizes: (a.parse().unwrap(), b.parse().unwrap()),
            });
        }
    }
    let status = child.wait().unwrap();
    if die_at.is_none() {
        assert!(status.success(), "child failed: {status:?}");
    }
    acks
}

fn copy_store(from: &Path, to: &Path) {
    let (fa, fb) = twinkv_host::region_paths(from);
    let (ta, tb) = twinkv_host::region_paths(to);
    for (f, t) in [(fa, ta), (fb, tb)] {
        let _ = std::fs::remove_file(&t);
        if f.exists() {
            std::fs::copy(f, t).unwrap();
        }
    }
}

#[test]
fn kills_during_growth_lose_no_acknowledged_write() {
    let _serial = crate::serial();
    if std::env::var("TWINKV_GROWTH_CHILD").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A full run without dying: where the steps and the growths are.
    let dry: PathBuf = dir.path().join("dry");
    let acks = run(&dry, None);
    assert_eq!(acks.len() as u64, OPS);
    let last = acks.last().unwrap();
    assert!(
        last.sizes.0 >= 32768 && last.sizes.1 >= 32768,
        "grew: {:?}",
        last.sizes
    );
    // Every step of a write that changed a region size, every third of a
    // switch while the two sizes differ (the forced or natural switch into
    // the larger region), every 25th otherwise.
    let mut die_at = Vec::new();
    let mut prev_steps = 0;
    let mut prev_sizes = (4096, 4096);
    let mut growth_writes = 0;
    for a in &acks {
        let resized = a.sizes != prev_sizes;
        let growth = resized || prev_sizes.0 != prev_sizes.1;
        if growth {
            growth_writes += 1;
        }
        for s in prev_steps + 1..=a.steps {
            let switched = a.steps - prev_steps >= 4;
            if resized || (growth && switched && s % 3 == 0) || s % 25 == 0 {
                die_at.push(s);
            }
        }
        prev_steps = a.steps;
        prev_sizes = a.sizes;
    }
    assert!(
        growth_writes >= 6,
        "{growth_writes} writes took part in growth"
    );
    let base = dir.path().join("store");
    let mut kills = 0;
    // Kills that left the two files of different lengths: inside a fill, or
    // between the switch into the larger region and the other's growth.
    let mut uneven = 0;
    for &n in &die_at {
        copy_store(&dir.path().join("none"), &base);
        let acks = run(&base, Some(n));
        let next = acks.last().map_or(0, |a| a.i + 1);
        if next < OPS {
            kills += 1;
        }
        let mut model = BTreeMap::new();
        for i in 0..next {
            let (k, v) = op(i);
            match v {
                Some(v) => model.insert(k, v),
                None => model.remove(&k),
            };
        }
        let (pa, pb) = twinkv_host::region_paths(&base);
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        if len(&pa) != len(&pb) {
            uneven += 1;
        }
        match verify_store(&base, false).unwrap().verdict {
            Verdict::Clean | Verdict::Recoverable(_) => {}
            Verdict::Corrupt(f) => panic!("corrupt after a kill at step {n}: {f:#?}"),
        }
        let s = Store::open(&base, Options::new()).unwrap();
        let got: BTreeMap<String, String> = s
            .iter()
            .map(|r| {
                let (k, v) = r.unwrap();
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect();
        // The write in flight may have landed or not.
        if next < OPS {
            let (fk, fv) = op(next);
            if got.get(&fk) != model.get(&fk) && got.get(&fk) == fv.as_ref() {
                match fv {
                    Some(v) => model.insert(fk, v),
                    None => model.remove(&fk),
                };
            }
        }
        assert_eq!(got, model, "after a kill at step {n}: acked up to {next}");
        let (a, b) = s.region_sizes();
        assert_eq!(a, b, "open settled the sizes after a kill at step {n}");
    }
    eprintln!(
        "growth crash test: {} runs, {kills} kills ({uneven} with files of different lengths), {growth_writes} writes in growth, {} steps",
        die_at.len(),
        last.steps
    );
    assert!(uneven >= 20, "only {uneven} kills inside a growth");
    assert!(kills as usize == die_at.len(), "every run died");
}
