//! twinkv in an embassy application on an STM32F411CE, over embassy-stm32's
//! async flash driver (`Flash::new(p.FLASH, Irqs)`, the FLASH interrupt
//! bound to the driver's handler): the store is an `AsyncStore`, and every
//! program and erase it does is awaited, so the executor may run other tasks
//! while the flash controller works (see "Erase in idle time" for how much
//! that gains on this chip).
//!
//! # Two async partitions of one driver
//!
//! The driver goes into an `embassy_sync::mutex::Mutex` (async: a partition
//! waiting for it yields), and embassy-embedded-hal's async `Partition` cuts
//! the store's two ranges out of it, each an async `NorFlash` of its own and
//! each a twinkv `AsyncFlashRegion`. A partition holds nothing but a
//! reference to the mutex, so the store is `Send` (checked at compile time
//! below) and can sit behind an async mutex shared by tasks, as here.
//!
//! # Cancellation
//!
//! Every call of the store is a future; dropping one before it completes (a
//! `select` or a timeout that gave up on it) leaves the regions as a power cut at
//! that await point would: the call's write is all or nothing. The store
//! then refuses every call with `Error::Cancelled`; open the regions again
//! and recovery proceeds as after a cut (README, "Async: embassy and other
//! executors"). This application never drops a call's future: each is
//! awaited to the end, under the lock of the store's mutex.
//!
//! # Erase in idle time
//!
//! The store's regions are the last two 128 KiB sectors of the chip, one
//! erase unit each (`memory.x` keeps the program out of them). Writes do not
//! erase ahead (`with_erase_ahead(false)`): after a switch, only `maintain`,
//! called by the `erase_ahead` task when nothing else is going on, erases the
//! old region, so the switch itself erases nothing. The erase is awaited, but
//! on a single-bank STM32F4 such as this one every fetch from flash stalls
//! until a program or erase ends, so during the one to two seconds of a
//! sector erase the executor gains little; on a dual-bank part, with the
//! program in the other bank, it runs other tasks meanwhile.
//!
//! This example is built in CI (`.ci/stages/42-mcu-examples.sh`), not run.

#![no_std]
#![no_main]

use embassy_embedded_hal::flash::partition::Partition;
use embassy_executor::Spawner;
use embassy_stm32::bind_interrupts;
use embassy_stm32::flash::{Async, Flash, InterruptHandler};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::mutex::Mutex;
use embassy_time::{Duration, Ticker};
use panic_halt as _;
use static_cell::StaticCell;
use twinkv_core::{
    async_flash_geometry, async_flash_scratch_len, AsyncFlashRegion, AsyncFlashStore, AsyncStore,
    Config, FixedIndex, Geometry, Scratch,
};

bind_interrupts!(struct Irqs {
    FLASH => InterruptHandler;
});

/// The chip's flash driver, async.
type ChipFlash = Flash<'static, Async>;
/// One of the store's two partitions of it.
type Part = Partition<'static, CriticalSectionRawMutex, ChipFlash>;

/// Flash offset (from 0x0800_0000) of the store: sectors 6 and 7.
const STORE_OFFSET: u32 = 0x4_0000;
/// Bytes of each of the store's two regions: one 128 KiB sector.
const REGION_SIZE: u32 = 0x2_0000;

/// The geometry of one region, from the async flash traits' units (what
/// `AsyncFlashRegion::new` derives at run time).
const REGION: Geometry = async_flash_geometry::<Part>(REGION_SIZE);

/// Keys up to 16 bytes, values up to 64; writes leave erasing to `maintain`.
const CONFIG: Config = Config::new(0x7C4B_E3BA_0002)
    .with_limits(16, 64)
    .with_erase_ahead(false);
// The configuration fits the regions: checked when this file compiles.
const _: () = assert!(CONFIG.fits(REGION, REGION));

/// The store: two async partitions, an index of up to 32 keys, and a scratch
/// buffer sized for `CONFIG` at the flash's write unit.
type Kv = AsyncFlashStore<Part, 32, { async_flash_scratch_len::<Part>(&CONFIG) }>;

// The store can cross contexts.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Kv>();
};

/// The store, shared by the tasks below. An async mutex: a task waiting for
/// it yields to the others.
type SharedKv = Mutex<CriticalSectionRawMutex, Kv>;

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(Default::default());

    static FLASH: StaticCell<Mutex<CriticalSectionRawMutex, ChipFlash>> = StaticCell::new();
    let flash = FLASH.init(Mutex::new(Flash::new(p.FLASH, Irqs)));
    let a = AsyncFlashRegion::whole(Partition::new(flash, STORE_OFFSET, REGION_SIZE))
        .expect("region A");
    let b = AsyncFlashRegion::whole(Partition::new(
        flash,
        STORE_OFFSET + REGION_SIZE,
        REGION_SIZE,
    ))
    .expect("region B");

    // Formats both regions on first boot; afterwards recovers whatever a
    // power cut (or a dropped call, in an earlier run) left (RELIABILITY.md).
    // An error here is a flash error or damage twinkv cannot repair: see
    // `open_salvage`.
    let store = AsyncStore::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG)
        .await
        .expect("open");
    static STORE: StaticCell<SharedKv> = StaticCell::new();
    let store: &'static SharedKv = STORE.init(Mutex::new(store));

    {
        let mut kv = store.lock().await;
        // The boot counter: a little-endian u32, absent on first boot.
        let mut buf = [0u8; 4];
        let boots = match kv
            .get(b"boot_count", &mut buf)
            .await
            .expect("get boot_count")
        {
            Some(4) => u32::from_le_bytes(buf).wrapping_add(1),
            _ => 1,
        };
        kv.set(b"boot_count", &boots.to_le_bytes())
            .await
            .expect("set boot_count");

        // A setting, written on first boot and read back.
        if !kv.contains_key(b"name").await.expect("contains_key name") {
            kv.set(b"name", b"twinkv-f411-async")
                .await
                .expect("set name");
        }
        let mut name = [0u8; 64];
        let len = kv.get(b"name", &mut name).await.expect("get name");
        assert_eq!(len.map(|n| &name[..n]), Some(&b"twinkv-f411-async"[..]));
    }

    spawner.spawn(erase_ahead(store).expect("erase_ahead task"));
    spawner.spawn(record_uptime(store).expect("record_uptime task"));
}

/// Erase ahead in idle time: once a second, `maintain(1)` until it reports
/// nothing left (here one call erases the whole 128 KiB sector; during a
/// switch under way each call copies a slice and the last one commits).
#[embassy_executor::task]
async fn erase_ahead(store: &'static SharedKv) {
    let mut ticker = Ticker::every(Duration::from_secs(1));
    loop {
        ticker.next().await;
        // `false`: nothing left to erase or copy. The lock is taken per
        // call, so a write waiting for the store gets in between.
        while store.lock().await.maintain(1).await.expect("maintain") {}
    }
}

/// A write every minute: the minutes since boot, over the previous value.
/// Each write appends a record, so the active region fills up and the store
/// switches now and then; `erase_ahead` then erases the old region.
#[embassy_executor::task]
async fn record_uptime(store: &'static SharedKv) {
    let mut ticker = Ticker::every(Duration::from_secs(60));
    let mut minutes: u32 = 0;
    loop {
        ticker.next().await;
        minutes = minutes.wrapping_add(1);
        store
            .lock()
            .await
            .set(b"uptime_min", &minutes.to_le_bytes())
            .await
            .expect("set uptime_min");
    }
}
