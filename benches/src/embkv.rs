//! The embedded stores under test on one shared, metered NOR flash: twinkv
//! (regions A and B on one flash) and, with feature `peers-embedded`,
//! sequential-storage's `map` and ekv. Used by `src/bin/embedded.rs` and
//! `src/bin/latency.rs`.
//!
//! [`Metered`] wraps any blocking `NorFlash` (here twinkv's `SimFlash`) and
//! counts every call exactly: read calls and bytes, program calls, bytes and
//! the 256-byte program pages each call touches, erase units. Every store
//! reaches the flash only through it, so the per-operation figures are
//! differences of its counters around the operation.

use std::cell::RefCell;
use std::ops::Range;

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, ReadNorFlash,
};
use twinkv_core::{
    Config, Error as KvError, FixedIndex, Reprogram, SharedFlashRegion, SimFlash, Store,
};

/// Page (erase unit) size of the 4 KiB comparison.
pub const PAGE: usize = 4096;
/// Pages of the 4 KiB comparison.
pub const PAGES: usize = 16;
/// The simulated flash of the 4 KiB comparison: write unit 4, erase unit 4 KiB.
pub type Sim = SimFlash<Vec<u8>, 4, PAGE>;

/// A fresh erased metered simulator of `size` bytes. `and_rewrite`: the part
/// may AND-rewrite a programmed word (sequential-storage's `remove_item`
/// needs it; [`Reprogram::And`]).
pub fn metered_sim<const W: usize, const E: usize>(
    size: u32,
    and_rewrite: bool,
) -> RefCell<Metered<SimFlash<Vec<u8>, W, E>>> {
    let mut f =
        SimFlash::new(vec![0; SimFlash::<Vec<u8>, W, E>::storage_len(size)], size).expect("sim");
    if and_rewrite {
        f.set_reprogram(Reprogram::And);
    }
    RefCell::new(Metered::new(f))
}

/// Program page of serial NOR parts (the unit of their page-program time).
pub const PROGRAM_PAGE: u32 = 256;

/// Exact counts of the calls a store made to the flash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meter {
    /// `read` calls.
    pub reads: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// `write` calls.
    pub programs: u64,
    /// Pieces of `write` calls split at [`PROGRAM_PAGE`] boundaries (one
    /// page-program command each on a serial NOR part).
    pub program_pages: u64,
    /// Bytes programmed.
    pub bytes_programmed: u64,
    /// Erase units erased.
    pub erase_units: u64,
}

impl Meter {
    /// The counts between `earlier` and `self`.
    pub fn since(self, earlier: Meter) -> Meter {
        Meter {
            reads: self.reads - earlier.reads,
            bytes_read: self.bytes_read - earlier.bytes_read,
            programs: self.programs - earlier.programs,
            program_pages: self.program_pages - earlier.program_pages,
            bytes_programmed: self.bytes_programmed - earlier.bytes_programmed,
            erase_units: self.erase_units - earlier.erase_units,
        }
    }

    /// The counts of `self` and `other` together.
    pub fn plus(self, other: Meter) -> Meter {
        Meter {
            reads: self.reads + other.reads,
            bytes_read: self.bytes_read + other.bytes_read,
            programs: self.programs + other.programs,
            program_pages: self.program_pages + other.program_pages,
            bytes_programmed: self.bytes_programmed + other.bytes_programmed,
            erase_units: self.erase_units + other.erase_units,
        }
    }
}

/// A `NorFlash` that counts every call it forwards to `F`.
#[derive(Debug)]
pub struct Metered<F> {
    inner: F,
    meter: Meter,
}

impl<F: NorFlash> Metered<F> {
    /// Wraps `inner` with zeroed counters.
    pub fn new(inner: F) -> Self {
        Metered {
            inner,
            meter: Meter::default(),
        }
    }

    /// The counters so far.
    pub fn meter(&self) -> Meter {
        self.meter
    }

    /// The wrapped flash (e.g. for `SimFlash::wear`).
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The wrapped flash, mutably (e.g. for `SimFlash::set_reprogram`).
    pub fn inner_mut(&mut self) -> &mut F {
        &mut self.inner
    }
}

impl<F: NorFlash> ErrorType for Metered<F> {
    type Error = F::Error;
}

impl<F: NorFlash> ReadNorFlash for Metered<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), F::Error> {
        self.inner.read(offset, bytes)?;
        self.meter.reads += 1;
        self.meter.bytes_read += bytes.len() as u64;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl<F: NorFlash> NorFlash for Metered<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), F::Error> {
        self.inner.erase(from, to)?;
        self.meter.erase_units += u64::from((to - from) / F::ERASE_SIZE as u32);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), F::Error> {
        self.inner.write(offset, bytes)?;
        self.meter.programs += 1;
        self.meter.bytes_programmed += bytes.len() as u64;
        if !bytes.is_empty() {
            let last = offset + bytes.len() as u32 - 1;
            self.meter.program_pages += u64::from(last / PROGRAM_PAGE - offset / PROGRAM_PAGE + 1);
        }
        Ok(())
    }
}

/// sequential-storage's `remove_item` AND-rewrites a programmed word: the
/// simulators under it are made with `and_rewrite` ([`metered_sim`]).
impl<F: NorFlash> MultiwriteNorFlash for Metered<F> {}

/// Datasheet timing model of one flash part: converts a [`Meter`] into time.
#[derive(Clone, Copy, Debug)]
pub struct TimeModel {
    /// Erase of one erase unit, typical, milliseconds.
    pub erase_typ_ms: f64,
    /// Erase of one erase unit, datasheet maximum, milliseconds.
    pub erase_max_ms: f64,
    /// How programming costs.
    pub program: ProgramTime,
    /// Reading, microseconds per byte.
    pub read_us_per_byte: f64,
    /// Reading, microseconds per `read` call (command and address).
    pub read_us_per_call: f64,
}

/// Programming time of a part.
#[derive(Clone, Copy, Debug)]
pub enum ProgramTime {
    /// Serial NOR: per 256-byte page piece of a call, `first_us` plus
    /// `per_byte_us` per further byte (tBP1 + n × tBP2, capped by tPP).
    Paged {
        /// First byte of a page piece, µs.
        first_us: f64,
        /// Each further byte, µs.
        per_byte_us: f64,
    },
    /// MCU flash: `us_per_word` per `word`-byte program unit.
    Word {
        /// Bytes of one program unit.
        word: u32,
        /// Time per unit, µs.
        us_per_word: f64,
    },
}

impl TimeModel {
    /// Time of the calls `m` counted, milliseconds, with typical erase times
    /// (`max_erase`: the datasheet maximum).
    pub fn ms(&self, m: &Meter, max_erase: bool) -> f64 {
        let erase = if max_erase {
            self.erase_max_ms
        } else {
            self.erase_typ_ms
        };
        let program_us = match self.program {
            ProgramTime::Paged {
                first_us,
                per_byte_us,
            } => {
                m.program_pages as f64 * first_us
                    + (m.bytes_programmed - m.program_pages) as f64 * per_byte_us
            }
            ProgramTime::Word { word, us_per_word } => {
                m.bytes_programmed.div_ceil(u64::from(word)) as f64 * us_per_word
            }
        };
        let read_us =
            m.bytes_read as f64 * self.read_us_per_byte + m.reads as f64 * self.read_us_per_call;
        m.erase_units as f64 * erase + (program_us + read_us) / 1000.0
    }
}

/// SPI NOR (W25Q-class datasheet): 4 KiB sector erase 45 ms typ / 400 ms
/// max; page program tBP1 30 µs + tBP2 2.5 µs per further byte (≈ 0.7 ms
/// per 256 B page, tPP); read 50 MHz single-SPI: 0.16 µs/B + 0.64 µs per
/// command (8-bit opcode + 24-bit address).
pub const SPI_NOR: TimeModel = TimeModel {
    erase_typ_ms: 45.0,
    erase_max_ms: 400.0,
    program: ProgramTime::Paged {
        first_us: 30.0,
        per_byte_us: 2.5,
    },
    read_us_per_byte: 0.16,
    read_us_per_call: 0.64,
};

/// STM32F4-like (x32 parallelism): 128 KiB sector erase 1 s typ / 2 s max,
/// 16 µs per 32-bit word program, reads memory-mapped ≈ 2 ns/B.
pub const F4: TimeModel = TimeModel {
    erase_typ_ms: 1000.0,
    erase_max_ms: 2000.0,
    program: ProgramTime::Word {
        word: 4,
        us_per_word: 16.0,
    },
    read_us_per_byte: 0.002,
    read_us_per_call: 0.0,
};

/// STM32H7-like (x32 parallelism): 128 KiB sector erase 1.1 s typ / 2.2 s
/// max (ST's figures for x32), program per 32 B flash word 100 µs (assumed;
/// erase dominates), reads memory-mapped ≈ 2 ns/B.
pub const H7: TimeModel = TimeModel {
    erase_typ_ms: 1100.0,
    erase_max_ms: 2200.0,
    program: ProgramTime::Word {
        word: 32,
        us_per_word: 100.0,
    },
    read_us_per_byte: 0.002,
    read_us_per_call: 0.0,
};

/// One store under test on a shared metered flash.
pub trait EmbKv {
    /// `false`: rejected because the store is full.
    fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool;
    /// Length of the value of `k` copied into `buf`.
    fn get(&mut self, k: &[u8; 16], buf: &mut [u8]) -> Option<usize>;
    /// Whether the remove succeeded.
    fn remove(&mut self, k: &[u8; 16]) -> bool;
    /// The flash counters so far.
    fn meter(&self) -> Meter;
    /// A reboot: everything in RAM is dropped and the store is opened again
    /// from the flash (its mount, where it has one).
    fn reboot(&mut self);
    /// twinkv only: (live bytes, fill limit) of the store.
    fn live(&self) -> Option<(u32, u32)> {
        None
    }
}

type TwinRegion<'a, F> = SharedFlashRegion<'a, Metered<F>>;
/// twinkv's store on two regions of one shared flash.
pub type TwinStore<'a, F> = Store<TwinRegion<'a, F>, FixedIndex<1024>, Vec<u8>>;

/// twinkv on regions `a` and `b` of a shared metered flash, keys ≤ 16 B,
/// values ≤ 64 B, `FixedIndex<1024>`.
pub struct Twin<'a, F: NorFlash> {
    store: Option<TwinStore<'a, F>>,
    cell: &'a RefCell<Metered<F>>,
    a: Range<u32>,
    b: Range<u32>,
    config: Config,
}

impl<'a, F: NorFlash> Twin<'a, F>
where
    F::Error: NorFlashError + core::fmt::Debug,
{
    /// Opens (formats) twinkv with ratios `hw` / `mf` (basis points).
    pub fn new(
        cell: &'a RefCell<Metered<F>>,
        a: Range<u32>,
        b: Range<u32>,
        hw: u16,
        mf: u16,
    ) -> Self {
        Self::with_switch(cell, a, b, hw, mf, true)
    }

    /// [`Twin::new`] with switches that copy in one call (the engine before
    /// the incremental switch, FORMAT.md §7.4), for comparison.
    pub fn one_shot(
        cell: &'a RefCell<Metered<F>>,
        a: Range<u32>,
        b: Range<u32>,
        hw: u16,
        mf: u16,
    ) -> Self {
        Self::with_switch(cell, a, b, hw, mf, false)
    }

    fn with_switch(
        cell: &'a RefCell<Metered<F>>,
        a: Range<u32>,
        b: Range<u32>,
        hw: u16,
        mf: u16,
        incremental: bool,
    ) -> Self {
        Self::with_config(
            cell,
            a,
            b,
            Self::config(hw, mf).with_incremental_switch(incremental),
        )
    }

    /// The configuration of [`Twin::new`]: keys ≤ 16 B, values ≤ 64 B,
    /// ratios `hw` / `mf` (basis points), the rest default.
    pub fn config(hw: u16, mf: u16) -> Config {
        Config::new(0xE3B).with_limits(16, 64).with_ratios(hw, mf)
    }

    /// Opens (formats) twinkv with `config` (e.g. [`Twin::config`] with a
    /// default changed).
    pub fn with_config(
        cell: &'a RefCell<Metered<F>>,
        a: Range<u32>,
        b: Range<u32>,
        config: Config,
    ) -> Self {
        let mut t = Twin {
            store: None,
            cell,
            a,
            b,
            config,
        };
        t.reboot();
        t
    }

    /// The open store (e.g. for an idle-time call between sets).
    pub fn store(&mut self) -> &mut TwinStore<'a, F> {
        self.store.as_mut().expect("open")
    }
}

impl<F: NorFlash> EmbKv for Twin<'_, F>
where
    F::Error: NorFlashError + core::fmt::Debug,
{
    fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool {
        match self.store().set(k, v) {
            Ok(()) => true,
            Err(KvError::Full) => false,
            Err(e) => panic!("twinkv set: {e:?}"),
        }
    }
    fn get(&mut self, k: &[u8; 16], buf: &mut [u8]) -> Option<usize> {
        self.store().get(k, buf).expect("twinkv get")
    }
    fn remove(&mut self, k: &[u8; 16]) -> bool {
        self.store().remove(k).is_ok()
    }
    fn meter(&self) -> Meter {
        self.cell.borrow().meter()
    }
    fn reboot(&mut self) {
        self.store = None;
        let (a, b) =
            SharedFlashRegion::pair(self.cell, self.a.clone(), self.b.clone()).expect("regions");
        let scratch = vec![0; TwinStore::<F>::scratch_len(&self.config, F::WRITE_SIZE as u32)];
        let store =
            Store::open(a, b, FixedIndex::new(), scratch, self.config).expect("twinkv open");
        self.store = Some(store);
    }
    fn live(&self) -> Option<(u32, u32)> {
        let st = self.store.as_ref().expect("open").stats();
        Some((st.live_bytes, st.fill_limit))
    }
}

#[cfg(feature = "peers-embedded")]
pub use peers::*;

#[cfg(feature = "peers-embedded")]
mod peers {
    use super::*;
    use crate::flash_peers::{AsyncFlash, EkvFlash};
    use embassy_futures::block_on;
    use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    use sequential_storage::cache::key_pointers::ArrayKeyPointers;
    use sequential_storage::cache::page_pointers::ArrayPagePointers;
    use sequential_storage::cache::page_states::ArrayPageStates;
    use sequential_storage::cache::{Cache, CacheImpl, Uncached};
    use sequential_storage::map::{MapConfig, MapStorage};

    /// sequential-storage's `map` over the whole flash; a reboot builds the
    /// map again with a fresh (empty) cache.
    pub struct Seq<'a, F: NorFlash, C: CacheImpl<[u8; 16]>> {
        map: MapStorage<[u8; 16], AsyncFlash<'a, Metered<F>>, C>,
        cell: &'a RefCell<Metered<F>>,
        new_cache: fn() -> C,
        buf: [u8; 128],
    }

    /// sequential-storage's caches: page states, page pointers, 1,024 key
    /// pointers, for `P` pages.
    pub type KeyCache<const P: usize> =
        Cache<ArrayPageStates<P>, ArrayPagePointers<P>, ArrayKeyPointers<[u8; 16], 1024>, [u8; 16]>;
    /// No cache.
    pub type NoCache = Cache<Uncached, Uncached, Uncached, [u8; 16]>;

    /// sequential-storage without caches.
    pub fn seq_uncached<F>(cell: &RefCell<Metered<F>>) -> Seq<'_, F, NoCache>
    where
        F: NorFlash,
        F::Error: NorFlashError,
    {
        Seq::new(cell, Cache::new_uncached)
    }

    /// sequential-storage with all three caches (`P` = the page count).
    pub fn seq_cached<F, const P: usize>(cell: &RefCell<Metered<F>>) -> Seq<'_, F, KeyCache<P>>
    where
        F: NorFlash,
        F::Error: NorFlashError,
    {
        Seq::new(cell, || {
            Cache::new(
                ArrayPageStates::new(),
                ArrayPagePointers::new(),
                ArrayKeyPointers::new(),
            )
        })
    }

    impl<'a, F, C> Seq<'a, F, C>
    where
        F: NorFlash,
        F::Error: NorFlashError,
        C: CacheImpl<[u8; 16]>,
    {
        fn new(cell: &'a RefCell<Metered<F>>, new_cache: fn() -> C) -> Self {
            let cap = cell.borrow().capacity() as u32;
            Seq {
                map: MapStorage::new(AsyncFlash(cell), MapConfig::new(0..cap), new_cache()),
                cell,
                new_cache,
                buf: [0; 128],
            }
        }
    }

    impl<F, C> EmbKv for Seq<'_, F, C>
    where
        F: NorFlash,
        F::Error: NorFlashError,
        C: CacheImpl<[u8; 16]>,
    {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool {
            match block_on(self.map.store_item(&mut self.buf, k, &v)) {
                Ok(()) => true,
                Err(sequential_storage::Error::FullStorage) => false,
                Err(e) => panic!("sequential-storage store: {e:?}"),
            }
        }
        fn get(&mut self, k: &[u8; 16], out: &mut [u8]) -> Option<usize> {
            let got = block_on(self.map.fetch_item::<&[u8]>(&mut self.buf, k))
                .expect("sequential-storage fetch")?;
            out[..got.len()].copy_from_slice(got);
            Some(got.len())
        }
        fn remove(&mut self, k: &[u8; 16]) -> bool {
            block_on(self.map.remove_item(&mut self.buf, k)).is_ok()
        }
        fn meter(&self) -> Meter {
            self.cell.borrow().meter()
        }
        fn reboot(&mut self) {
            let cap = self.cell.borrow().capacity() as u32;
            self.map = MapStorage::new(
                AsyncFlash(self.cell),
                MapConfig::new(0..cap),
                (self.new_cache)(),
            );
        }
    }

    /// ekv (CRC on, 4 KiB pages: the crate's features fix the geometry).
    pub struct Ekv<'a, F: NorFlash> {
        db: ekv::Database<EkvFlash<'a, Metered<F>>, NoopRawMutex>,
        cell: &'a RefCell<Metered<F>>,
    }

    fn ekv_config() -> ekv::Config {
        let mut config = ekv::Config::default();
        config.random_seed = 0x5EED;
        config
    }

    /// A freshly formatted ekv on the whole flash.
    pub fn ekv<F>(cell: &RefCell<Metered<F>>) -> Ekv<'_, F>
    where
        F: NorFlash,
        F::Error: core::fmt::Debug,
    {
        let db = ekv::Database::new(EkvFlash(cell), ekv_config());
        block_on(db.format()).expect("ekv format");
        Ekv { db, cell }
    }

    impl<F> EmbKv for Ekv<'_, F>
    where
        F: NorFlash,
        F::Error: core::fmt::Debug,
    {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool {
            block_on(async {
                let mut tx = self.db.write_transaction().await;
                match tx.write(k, v).await {
                    Ok(()) => {}
                    Err(ekv::WriteError::Full) => return false,
                    Err(e) => panic!("ekv write: {e:?}"),
                }
                match tx.commit().await {
                    Ok(()) => true,
                    Err(e) => panic!("ekv commit: {e:?}"),
                }
            })
        }
        fn get(&mut self, k: &[u8; 16], buf: &mut [u8]) -> Option<usize> {
            block_on(async {
                let tx = self.db.read_transaction().await;
                match tx.read(k, buf).await {
                    Ok(n) => Some(n),
                    Err(ekv::ReadError::KeyNotFound) => None,
                    Err(e) => panic!("ekv read: {e:?}"),
                }
            })
        }
        fn remove(&mut self, k: &[u8; 16]) -> bool {
            block_on(async {
                let mut tx = self.db.write_transaction().await;
                if tx.delete(k).await.is_err() {
                    return false;
                }
                tx.commit().await.is_ok()
            })
        }
        fn meter(&self) -> Meter {
            self.cell.borrow().meter()
        }
        fn reboot(&mut self) {
            self.db = ekv::Database::new(EkvFlash(self.cell), ekv_config());
            block_on(self.db.mount()).expect("ekv mount");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metered_counts_each_call() {
        let cell = metered_sim::<4, PAGE>((PAGE * 4) as u32, false);
        let mut f = cell.borrow_mut();
        f.write(252, &[0; 8]).unwrap(); // crosses a 256 B program page
        f.write(512, &[0; 4]).unwrap();
        let mut buf = [0u8; 100];
        f.read(0, &mut buf).unwrap();
        f.erase(0, 2 * PAGE as u32).unwrap();
        let m = f.meter();
        assert_eq!(
            m,
            Meter {
                reads: 1,
                bytes_read: 100,
                programs: 2,
                program_pages: 3,
                bytes_programmed: 12,
                erase_units: 2,
            }
        );
        assert_eq!(m.since(m), Meter::default());
        assert_eq!(Meter::default().plus(m), m);
        // The simulator's own counters agree.
        let st = f.inner().stats();
        assert_eq!(
            (st.bytes_read, st.bytes_programmed, st.erases),
            (100, 12, 2)
        );
    }

    #[test]
    fn time_model_adds_erase_program_and_read() {
        let m = Meter {
            reads: 2,
            bytes_read: 1000,
            programs: 1,
            program_pages: 2,
            bytes_programmed: 10,
            erase_units: 3,
        };
        let paged = SPI_NOR;
        // 3 × 45 ms + (2 × 30 + 8 × 2.5) µs + (1000 × 0.16 + 2 × 0.64) µs.
        let want = 135.0 + (80.0 + 161.28) / 1000.0;
        assert!((paged.ms(&m, false) - want).abs() < 1e-9);
        assert!((paged.ms(&m, true) - (want + 3.0 * 355.0)).abs() < 1e-9);
        let word = TimeModel {
            program: ProgramTime::Word {
                word: 4,
                us_per_word: 16.0,
            },
            ..paged
        };
        // 10 B = 3 words started.
        let want = 135.0 + (48.0 + 161.28) / 1000.0;
        assert!((word.ms(&m, false) - want).abs() < 1e-9);
    }
}
