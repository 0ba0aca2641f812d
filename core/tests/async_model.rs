//! Model test through the async store: random sets, deletes, batches,
//! clears, compactions, syncs, gets, `maintain` calls and reopens against a
//! `BTreeMap`, on the async store over regions whose every call suspends
//! once (`Rig::open_async_gated`), on small regions so it switches often.
//! Mixed in: calls cancelled at a random await point (a gate stops the
//! call's k-th region call, before or after its work, and the future is
//! dropped). After a cancelled call the store must refuse every call with
//! `Error::Cancelled`, and a reopen must show the model with the dropped
//! write all or nothing (like after a power cut). After every step the
//! store equals the model.

use proptest::prelude::*;
use twinkv_core::testkit::asynch::{run_gated, Gate, StopAt};
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error};

#[derive(Clone, Debug)]
enum Step {
    Write(Write),
    Get(u8),
    /// `maintain(units)`.
    Maintain(u32),
    Reopen,
    /// The write as one future, stopped at its `calls`-th region call
    /// (after that call's work if `after`) unless it completes first.
    Cancel {
        write: Write,
        calls: u64,
        after: bool,
    },
}

const KEYS: u8 = 14;

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

fn write() -> impl Strategy<Value = Write> {
    let value = prop::collection::vec(any::<u8>(), 0..=24);
    let op = (
        0u8..KEYS,
        prop::option::of(prop::collection::vec(any::<u8>(), 0..=24)),
    );
    prop_oneof![
        30 => (0u8..KEYS, value).prop_map(|(k, v)| Write::Set(key(k), v)),
        10 => (0u8..KEYS).prop_map(|k| Write::Delete(key(k))),
        8 => prop::collection::vec(op, 1..5)
            .prop_map(|ops| Write::Batch(ops.into_iter().map(|(k, v)| (key(k), v)).collect())),
        3 => Just(Write::Compact),
        3 => Just(Write::Sync),
        1 => Just(Write::Clear),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        50 => write().prop_map(Step::Write),
        10 => (0u8..KEYS).prop_map(Step::Get),
        6 => (1u32..4).prop_map(Step::Maintain),
        5 => Just(Step::Reopen),
        6 => (write(), 0u64..48, any::<bool>())
            .prop_map(|(write, calls, after)| Step::Cancel { write, calls, after }),
    ]
}

#[derive(Debug, Default)]
struct Figures {
    /// Calls dropped at a gate, then recovered by a reopen.
    dropped: u64,
    /// Of those, where the dropped write had taken effect.
    took_effect: u64,
    /// Gated calls that completed before their gate closed.
    completed: u64,
    switches: u32,
}

fn run_model(w: u32, size: u32, steps: &[Step]) -> Result<Figures, TestCaseError> {
    let power = Power::default();
    let config = Config::new(0xA5_0DE1).with_limits(8, 24);
    let mut rig = Rig::new(&power, size, w, config);
    let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
    let gate = Gate::never();
    let mut model = Model::new();
    let mut fig = Figures::default();
    let mut store = rig.open_async_gated(gate.clone()).unwrap();
    for (i, s) in steps.iter().enumerate() {
        let ctx = format!("W={w} step {i} {s:?}");
        match s {
            Step::Write(wr) => match wr.run(&mut store) {
                Ok(()) => wr.apply_to(&mut model),
                // 14 keys × 40 B never exceed capacity × max-fill here.
                Err(e) => return Err(TestCaseError::fail(format!("{ctx}: {e:?}"))),
            },
            Step::Get(k) => {
                let mut buf = [0u8; 32];
                let got = store
                    .get(&key(*k), &mut buf)
                    .map(|o| o.map(|n| buf[..n].to_vec()));
                prop_assert_eq!(got, Ok(model.get(&key(*k)).cloned()), "{}", ctx);
            }
            Step::Maintain(units) => {
                if let Err(e) = store.maintain(*units) {
                    return Err(TestCaseError::fail(format!("{ctx}: {e:?}")));
                }
            }
            Step::Reopen => {
                fig.switches += store.stats().switches;
                drop(store);
                store = rig.open_async_gated(gate.clone()).unwrap();
            }
            Step::Cancel {
                write,
                calls,
                after,
            } => {
                let at = if *after {
                    StopAt::After
                } else {
                    StopAt::Before
                };
                gate.arm(*calls, at);
                let r = run_gated(&mut store.0, write, &gate);
                gate.lift();
                if let Some(r) = r {
                    // It completed before the gate closed: an ordinary call.
                    prop_assert!(r.is_ok(), "{}: {:?}", ctx, r);
                    write.apply_to(&mut model);
                    fig.completed += 1;
                } else {
                    let mut buf = [0u8; 32];
                    prop_assert!(
                        matches!(store.set(b"k0", b"x"), Err(Error::Cancelled)),
                        "{}: a write after the drop",
                        ctx
                    );
                    prop_assert!(
                        matches!(store.get(b"k0", &mut buf), Err(Error::Cancelled)),
                        "{}: a read after the drop",
                        ctx
                    );
                    fig.switches += store.stats().switches;
                    drop(store);
                    let reopened = rig.open_async_gated(gate.clone());
                    let inflight = std::slice::from_ref(write);
                    let (m, took) = recover(reopened, inflight, &model, Some(0), &keys, &ctx);
                    model = m;
                    fig.dropped += 1;
                    fig.took_effect += u64::from(took);
                    store = rig.open_async_gated(gate.clone()).unwrap();
                }
            }
        }
        check_store(&mut store, &model, &keys)
            .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
        let st = store.stats();
        prop_assert!(st.live_bytes <= st.fill_limit, "{}", ctx);
    }
    fig.switches += store.stats().switches;
    if std::env::var_os("TWINKV_VERBOSE").is_some() {
        eprintln!("W={w} size={size} steps={}: {fig:?}", steps.len());
    }
    Ok(fig)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn async_model_w1(steps in prop::collection::vec(step(), 1..160)) {
        run_model(1, 1024, &steps)?;
    }

    #[test]
    fn async_model_w4(steps in prop::collection::vec(step(), 1..160)) {
        run_model(4, 1024, &steps)?;
    }

    #[test]
    fn async_model_w16(steps in prop::collection::vec(step(), 1..160)) {
        run_model(16, 2048, &steps)?;
    }
}

/// One long deterministic run per write unit (a workload with a reopen, a
/// `maintain` and a cancelled set at fixed intervals), so the random cases
/// are not all short: it must switch and drop calls many times.
#[test]
fn long_async_model_run_switches_and_drops_calls() {
    let wl = workload(1500, KEYS.into(), 7, 24);
    let steps: Vec<Step> = wl
        .into_iter()
        .enumerate()
        .flat_map(|(i, w)| {
            let mut v = vec![Step::Write(w)];
            match i % 23 {
                0 => v.push(Step::Reopen),
                7 => v.push(Step::Maintain(2)),
                13 => v.push(Step::Cancel {
                    write: Write::Set(key((i % 14) as u8), vec![i as u8; 12]),
                    calls: (i % 5) as u64,
                    after: i % 2 == 0,
                }),
                _ => {}
            }
            v
        })
        .collect();
    for w in [1, 4, 16, 32] {
        let fig = run_model(w, 2048, &steps).unwrap();
        eprintln!("W={w}: {fig:?}");
        assert!(fig.switches > 10, "W={w}: {fig:?}");
        assert!(fig.dropped > 20 && fig.took_effect > 0, "W={w}: {fig:?}");
    }
}
