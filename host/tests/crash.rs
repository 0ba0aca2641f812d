//! Crash test: a child process (`twinkv __crash-writer`) writes numbered keys
//! and acknowledges each on stdout; it dies at every program/erase/flush/fsync
//! step in turn (TWINKV_ABORT_AT_STEP), and the parent SIGKILLs it at random
//! moments. After each death: `verify` must say clean or recoverable, and every
//! acknowledged write must be there with its last acknowledged value.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The writer's operation `i`: the CLI's crash writer runs the same one.
use twinkv_core::testkit::XorShift;
use twinkv_host::hooks::crash_op as op;
use twinkv_host::inspect::{verify_store, Verdict};
use twinkv_host::{Options, Store};

const BIN: &str = env!("CARGO_BIN_EXE_twinkv");

#[derive(Default)]
struct Tally {
    runs: u32,
    kills: u32,
    acks: u64,
    recoverable: u32,
    mid_switch: u32,
}

/// One child run from op `start`; returns the next op to run.
fn run(
    base: &Path,
    start: u64,
    die_at: Option<u64>,
    kill_after: Option<Duration>,
    sync: bool,
    model: &mut BTreeMap<String, String>,
    tally: &mut Tally,
) -> u64 {
    let mut cmd = Command::new(BIN);
    cmd.arg("__crash-writer")
        .arg(base)
        .args([
            "--start",
            &start.to_string(),
            "--count",
            "300",
            "--size",
            "2048",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if sync {
        cmd.arg("--sync-every-write");
    }
    if let Some(n) = die_at {
        cmd.env("TWINKV_ABORT_AT_STEP", n.to_string());
    }
    let mut child = cmd.spawn().expect("spawn twinkv");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked: Option<u64> = None;
    let mut ready = false;
    let started = Instant::now();
    loop {
        let timeout = match (kill_after, ready) {
            (Some(d), true) => d.saturating_sub(started.elapsed()),
            _ => Duration::from_secs(20),
        };
        match rx.recv_timeout(timeout) {
            Ok(line) if line == "ready" => ready = true,
            Ok(line) => {
                let i: u64 = line.strip_prefix("ack ").unwrap().parse().unwrap();
                assert_eq!(i, acked.map_or(start, |a| a + 1), "acks in order");
                acked = Some(i);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                assert!(kill_after.is_some(), "child hung");
                let _ = child.kill();
                break;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    // Drain acks the reader got before the kill.
    while let Ok(line) = rx.try_recv() {
        if let Some(i) = line.strip_prefix("ack ") {
            acked = Some(i.parse().unwrap());
        }
    }
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    tally.runs += 1;
    if status.signal() == Some(9) {
        tally.kills += 1;
    } else {
        assert!(status.success(), "child failed: {status:?} {stderr}");
    }
    // Apply the acknowledged ops to the model.
    let next = acked.map_or(start, |a| a + 1);
    for i in start..next {
        let (k, v) = op(i);
        match v {
            Some(v) => model.insert(k, v),
            None => model.remove(&k),
        };
    }
    tally.acks += next - start;

    // 1. verify before anything else writes.
    let report = verify_store(base, false).unwrap();
    match &report.verdict {
        Verdict::Clean => {}
        Verdict::Recoverable(f) => {
            tally.recoverable += 1;
            if f.iter().any(|x| x.contains("switch")) {
                tally.mid_switch += 1;
            }
        }
        Verdict::Corrupt(f) => panic!("corrupt after a kill at step {die_at:?}: {f:#?}"),
    }
    // 2. every acknowledged write is there; the one in flight is old or new.
    let s = Store::open(base, Options::new()).unwrap();
    let (fk, fv) = op(next);
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
    // The op in flight when the child died may have landed or not.
    if got.get(&fk) != model.get(&fk) && got.get(&fk) == fv.as_ref() {
        match &fv {
            Some(v) => model.insert(fk.clone(), v.clone()),
            None => model.remove(&fk),
        };
    }
    assert_eq!(
        got, *model,
        "after a kill at step {die_at:?} from op {start}: acked up to {next}"
    );
    drop(s);
    next
}

#[test]
fn kills_lose_no_acknowledged_write() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("crash");
    let mut model = BTreeMap::new();
    let mut tally = Tally::default();
    let mut next = 0;
    let t0 = Instant::now();
    // Dying at every step of the writes and switches in turn (default mode:
    // each write is one program; a switch about 40 steps).
    for step in 1..=250 {
        next = run(&base, next, Some(step), None, false, &mut model, &mut tally);
    }
    // The same with a sync after every write.
    for step in 1..=100 {
        next = run(&base, next, Some(step), None, true, &mut model, &mut tally);
    }
    // SIGKILL at random moments.
    let seed = std::env::var("TWINKV_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_1234_u64);
    let mut rng = XorShift(seed);
    for _ in 0..300 {
        let after = Duration::from_micros(rng.next() % 4000);
        let sync = rng.next().is_multiple_of(4);
        next = run(&base, next, None, Some(after), sync, &mut model, &mut tally);
    }
    eprintln!(
        "crash test: {} runs, {} kills, {} acknowledged writes, {} recoverable states ({} inside a switch), 0 losses, {:.1} s (seed {seed:#x})",
        tally.runs,
        tally.kills,
        tally.acks,
        tally.recoverable,
        tally.mid_switch,
        t0.elapsed().as_secs_f64()
    );
    assert!(tally.kills >= 200, "only {} kills", tally.kills);
    assert!(
        tally.mid_switch >= 20,
        "only {} kills inside a switch",
        tally.mid_switch
    );
    let s = Store::open(&base, Options::new()).unwrap();
    assert!(
        s.stats().unwrap().generation > 10,
        "the writes switched regions many times"
    );
}
