//! twinkv's own test kit: the support that core's tests, the host's tests and
//! the fuzz crate share, in one place. **For twinkv's own tests and fuzzers;
//! outside SemVer** (feature `_testkit`, which also brings in `std`).
//!
//! - [`model`]: the acknowledged-writes model (a `BTreeMap`), the writes of a
//!   workload ([`Write`]) and [`check_store`].
//! - [`workload`](mod@workload): the deterministic workloads, the SplitMix64
//!   [`Rng`] and the [`XorShift`] generator.
//! - [`power`]: one power supply shared by both regions ([`Power`]), a
//!   [`RamRegion`](crate::RamRegion) on it ([`CutRegion`]), scheduled damage
//!   between operations ([`Strike`]) and a pair of regions on one supply
//!   ([`Rig`]).
//! - [`cut`]: run a workload until the power fails and judge the reboot,
//!   over any region a test opens (a store factory), so one scenario runs
//!   over `RamRegion` and `SimFlash` alike.
//! - `flash` (with `flash-sim`): stores on `SimFlash` through the
//!   embedded-storage adapter.
//! - [`front`]: [`KvStore`], the calls the kit makes on a store, and (with
//!   `async`) `asynch`: the async store driven through them, regions that
//!   suspend at every call or stop at a gate (cancellation), a flash that
//!   reads blocking and writes async.
//! - [`noting`]: [`NotingIndex`](noting::NotingIndex), the index of
//!   [`power`]'s stores: `FixedIndex` keeping the positions a copy notes.
//! - [`damage`]: the damage harness's medium-independent half (lifecycle
//!   scripts, traces, faults, the oracle and the result table).
//!
//! # Why a feature of twinkv-core and not a crate of its own
//!
//! The published crates must test themselves as a user gets them from the
//! registry: CI's package stage (`.ci/stages/20-package.sh`) runs
//! `cargo test --all-features` inside the unpacked packaged twinkv-core, and
//! `cargo package` drops path-only dev-dependencies, such as an unpublished
//! test-kit crate would be. A feature travels with the package: the
//! workspace turns it on through core's dev-dependency on itself (as it does
//! `_located-bugs`), the package stage through `--all-features`, the host's
//! tests and the fuzz crate through their dependency on twinkv-core.
//! sequential-storage gates its mock flash the same way. The rest of the
//! crate stays `no_std`; only this module uses `std`.
//!
//! Test files use it as `use twinkv_core::testkit::*;` (the model, workload
//! and power items), plus `testkit::cut`, `testkit::flash` or
//! `testkit::damage` where they need those.

#[cfg(feature = "async")]
pub mod asynch;
pub mod cut;
// The harness's vocabulary (faults, verdicts, table rows) is documented
// where it is defined, item by item only where the name is not enough.
#[allow(missing_docs)]
pub mod damage;
#[cfg(feature = "flash-sim")]
pub mod flash;
pub mod front;
pub mod model;
pub mod noting;
pub mod power;
pub mod workload;

pub use cut::{power_lost, recover, resume_at, run_until_cut, Acknowledge, DURING_OPEN};
pub use front::KvStore;
pub use model::{batch_ops, check_store, universe, Model, Write};
#[cfg(feature = "async")]
pub use power::AsyncTestStore;
pub use power::{CutRegion, Power, Rig, Strike, StrikeKind, TestStore};
pub use workload::{varied_key, varied_universe, varied_workload, workload, Rng, XorShift};

/// Two fresh RAM regions of `size` bytes with the host's write unit (4
/// bytes) and an erase unit of `erase_unit` bytes, read unit 1: the pair
/// most store tests open.
pub fn ram_pair(
    size: u32,
    erase_unit: u32,
) -> (
    crate::RamRegion<std::vec::Vec<u8>>,
    crate::RamRegion<std::vec::Vec<u8>>,
) {
    let geo = crate::Geometry {
        size,
        read_unit: 1,
        write_unit: 4,
        erase_unit,
    };
    let len = crate::RamRegion::<std::vec::Vec<u8>>::storage_len_for(&geo);
    let region = || crate::RamRegion::new(std::vec![0u8; len], geo).expect("a valid geometry");
    (region(), region())
}
