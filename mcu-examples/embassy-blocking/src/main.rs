//! twinkv in an embassy application on an STM32F411CE, over embassy-stm32's
//! blocking flash driver (`Flash::new_blocking`).
//!
//! # The `Send` recipe: `FlashRegion` over `BlockingPartition`
//!
//! Both regions of the store live on the one flash of the chip. embassy
//! already has a lock for a shared flash: the driver goes into an
//! `embassy_sync::blocking_mutex::Mutex<CriticalSectionRawMutex, RefCell<_>>`
//! and embassy-embedded-hal's `BlockingPartition` cuts a range out of it
//! that is a `NorFlash` of its own. Each partition becomes a twinkv
//! `FlashRegion`. A partition holds nothing but a reference to that mutex,
//! so the store is `Send` (checked at compile time below): it can sit in a
//! `static` behind an `embassy_sync` mutex shared by tasks, or move to a
//! task spawned through a `SendSpawner`. This is the recipe for firmware that
//! already uses embassy's partitions; twinkv's own `MutexFlashRegion`
//! (feature `critical-section`, see the `rtic` example) does the same job
//! without embassy-embedded-hal. Format and guarantees are the same either
//! way.
//!
//! # Erase in idle time
//!
//! The store's regions are the last two 128 KiB sectors of the chip, one
//! erase unit each (`memory.x` keeps the program out of them). Erasing a
//! sector takes one to two seconds, during which a single-bank STM32F4 stalls
//! every fetch from flash, so interrupts are held off anyway. The
//! configuration turns erase ahead off for writes (`with_erase_ahead(false)`):
//! only `Store::maintain`, called by the `erase_ahead` task when nothing else
//! is going on, erases the old region after a switch, so that the switch
//! itself, when the active region fills up, erases nothing.
//!
//! This example is built in CI (`.ci/stages/42-mcu-examples.sh`), not run.

#![no_std]
#![no_main]

use core::cell::RefCell;

use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_executor::Spawner;
use embassy_stm32::flash::{Blocking, Flash};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::Mutex as BlockingMutex;
use embassy_sync::mutex::Mutex;
use embassy_time::{Duration, Ticker};
use panic_halt as _;
use static_cell::StaticCell;
use twinkv_core::{
    flash_geometry, flash_scratch_len, Config, FixedIndex, FlashRegion, Scratch, Store,
};

/// The chip's flash driver, blocking.
type ChipFlash = Flash<'static, Blocking>;
/// One of the store's two partitions of it.
type Part = BlockingPartition<'static, CriticalSectionRawMutex, ChipFlash>;

/// Flash offset (from 0x0800_0000) of the store: sectors 6 and 7.
const STORE_OFFSET: u32 = 0x4_0000;
/// Bytes of each of the store's two regions: one 128 KiB sector.
const REGION_SIZE: u32 = 0x2_0000;

/// Keys up to 16 bytes, values up to 64; writes leave erasing to `maintain`.
const CONFIG: Config = Config::new(0x7C4B_E3BA_0001)
    .with_limits(16, 64)
    .with_erase_ahead(false);
// The configuration fits the regions: checked when this file compiles.
const _: () = assert!(CONFIG.fits(
    flash_geometry::<Part>(REGION_SIZE),
    flash_geometry::<Part>(REGION_SIZE)
));

/// The store: two partitions, an index of up to 32 keys, and a scratch
/// buffer sized for `CONFIG` at the flash's write unit.
type Kv = Store<FlashRegion<Part>, FixedIndex<32>, Scratch<{ flash_scratch_len::<Part>(&CONFIG) }>>;

// What the recipe is for: the store can cross contexts.
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

    static FLASH: StaticCell<BlockingMutex<CriticalSectionRawMutex, RefCell<ChipFlash>>> =
        StaticCell::new();
    let flash = FLASH.init(BlockingMutex::new(RefCell::new(Flash::new_blocking(
        p.FLASH,
    ))));
    let a = FlashRegion::whole(BlockingPartition::new(flash, STORE_OFFSET, REGION_SIZE))
        .expect("region A");
    let b = FlashRegion::whole(BlockingPartition::new(
        flash,
        STORE_OFFSET + REGION_SIZE,
        REGION_SIZE,
    ))
    .expect("region B");

    // Formats both regions on first boot; afterwards recovers whatever a
    // power cut left (RELIABILITY.md). An error here is a flash error or
    // damage twinkv cannot repair: see `Store::open_salvage`.
    let store = Store::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG).expect("open");
    static STORE: StaticCell<SharedKv> = StaticCell::new();
    let store: &'static SharedKv = STORE.init(Mutex::new(store));

    {
        let mut kv = store.lock().await;
        // The boot counter: a little-endian u32, absent on first boot.
        let mut buf = [0u8; 4];
        let boots = match kv.get(b"boot_count", &mut buf).expect("get boot_count") {
            Some(4) => u32::from_le_bytes(buf).wrapping_add(1),
            _ => 1,
        };
        kv.set(b"boot_count", &boots.to_le_bytes())
            .expect("set boot_count");

        // A setting, written on first boot and read back.
        if !kv.contains_key(b"name").expect("contains_key name") {
            kv.set(b"name", b"twinkv-f411").expect("set name");
        }
        let mut name = [0u8; 64];
        let len = kv.get(b"name", &mut name).expect("get name");
        assert_eq!(len.map(|n| &name[..n]), Some(&b"twinkv-f411"[..]));
    }

    spawner.spawn(erase_ahead(store).expect("erase_ahead task"));
    spawner.spawn(record_uptime(store).expect("record_uptime task"));
}

/// Erase ahead in idle time: once a second, one erase unit of the inactive
/// region (here the whole 128 KiB sector), if a switch left it to erase.
#[embassy_executor::task]
async fn erase_ahead(store: &'static SharedKv) {
    let mut ticker = Ticker::every(Duration::from_secs(1));
    loop {
        ticker.next().await;
        // `false`: nothing left to erase, the next switch erases nothing.
        let _pending = store.lock().await.maintain(1).expect("maintain");
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
            .expect("set uptime_min");
    }
}
