//! twinkv in an RTIC 2 application on an STM32F411CE, over embassy-stm32's
//! blocking flash driver: the store is a `#[shared]` resource.
//!
//! RTIC requires every shared resource to be `Send` (its generated code
//! asserts it), and a store over `SharedFlashRegion`'s `RefCell` is not. So
//! the flash goes into a `critical_section::Mutex<RefCell<_>>` and the
//! store's two regions are `MutexFlashRegion`s (twinkv-core feature
//! `critical-section`; cortex-m's `critical-section-single-core` provides the
//! implementation): the store type is `MutexFlashStore`.
//!
//! One task writes a setting (`save_brightness`, spawned here by `init` in
//! place of a button or a command), one reads it (`apply_brightness`, at
//! boot and after each change), at a higher priority: RTIC's `lock` keeps
//! them from using the store at the same time. The idle task erases ahead
//! with `Store::maintain` while nothing else runs, and sleeps once nothing is
//! left to erase.
//!
//! The store's regions are the last two 128 KiB sectors of the chip
//! (`memory.x` keeps the program out of them), one erase unit each. Writes
//! leave erasing to `maintain` (`with_erase_ahead(false)`): an erase takes
//! one to two seconds, and only the idle task should pay for it.
//!
//! This example is built in CI (`.ci/stages/42-mcu-examples.sh`), not run.

#![no_std]
#![no_main]

use panic_halt as _;

#[rtic::app(device = embassy_stm32, peripherals = false, dispatchers = [SPI1, SPI2])]
mod app {
    use core::cell::RefCell;

    use critical_section::Mutex;
    use embassy_stm32::flash::{Blocking, Flash};
    use static_cell::StaticCell;
    use twinkv_core::{
        flash_geometry, flash_scratch_len, Config, FixedIndex, MutexFlashRegion, MutexFlashStore,
        Scratch, Store,
    };

    /// The chip's flash driver, blocking.
    type ChipFlash = Flash<'static, Blocking>;

    /// Flash offset (from 0x0800_0000) of the store: sectors 6 and 7.
    const STORE_OFFSET: u32 = 0x4_0000;
    /// Bytes of the store, split in two regions of one 128 KiB sector each.
    const STORE_SIZE: u32 = 0x4_0000;

    /// Keys up to 16 bytes, values up to 64; writes leave erasing to
    /// `maintain`.
    const CONFIG: Config = Config::new(0x7C4B_E3BA_0002)
        .with_limits(16, 64)
        .with_erase_ahead(false);
    // The configuration fits the regions: checked when this file compiles.
    const _: () = assert!(CONFIG.fits(
        flash_geometry::<ChipFlash>(STORE_SIZE / 2),
        flash_geometry::<ChipFlash>(STORE_SIZE / 2)
    ));

    /// The store: one flash in two halves behind a critical-section mutex,
    /// an index of up to 32 keys, a scratch buffer sized for `CONFIG`.
    type Kv = MutexFlashStore<'static, ChipFlash, 32, { flash_scratch_len::<ChipFlash>(&CONFIG) }>;

    /// The setting's key, and its value until one is saved.
    const BRIGHTNESS: &[u8] = b"brightness";
    const DEFAULT_BRIGHTNESS: u8 = 128;

    #[shared]
    struct Shared {
        store: Kv,
    }

    #[local]
    struct Local {}

    #[init]
    fn init(_cx: init::Context) -> (Shared, Local) {
        let p = embassy_stm32::init(Default::default());

        static FLASH: StaticCell<Mutex<RefCell<ChipFlash>>> = StaticCell::new();
        let flash = FLASH.init(Mutex::new(RefCell::new(Flash::new_blocking(p.FLASH))));
        let (a, b) = MutexFlashRegion::halves(flash, STORE_OFFSET, STORE_SIZE).expect("regions");
        // Formats both regions on first boot; afterwards recovers whatever a
        // power cut left (RELIABILITY.md). An error here is a flash error or
        // damage twinkv cannot repair: see `Store::open_salvage`.
        let store = Store::open(a, b, FixedIndex::new(), Scratch::new(), CONFIG).expect("open");

        apply_brightness::spawn().ok();
        // Stands in for the user's input.
        save_brightness::spawn(200).ok();

        (Shared { store }, Local {})
    }

    /// Writes the setting, then has it applied.
    #[task(shared = [store], priority = 1)]
    async fn save_brightness(mut cx: save_brightness::Context, level: u8) {
        cx.shared
            .store
            .lock(|kv| kv.set(BRIGHTNESS, &[level]))
            .expect("set brightness");
        apply_brightness::spawn().ok();
    }

    /// Reads the setting (the default if none was saved) and applies it.
    #[task(shared = [store], priority = 2)]
    async fn apply_brightness(mut cx: apply_brightness::Context) {
        let mut buf = [0u8; 1];
        let level = match cx
            .shared
            .store
            .lock(|kv| kv.get(BRIGHTNESS, &mut buf))
            .expect("get brightness")
        {
            Some(1) => buf[0],
            _ => DEFAULT_BRIGHTNESS,
        };
        set_backlight(level);
    }

    /// Erase ahead while nothing else runs: one erase unit of the inactive
    /// region per call, if a switch left it to erase; then sleep until an
    /// interrupt (a task) has run.
    #[idle(shared = [store])]
    fn idle(mut cx: idle::Context) -> ! {
        loop {
            let pending = cx.shared.store.lock(|kv| kv.maintain(1)).expect("maintain");
            if !pending {
                cortex_m::asm::wfi();
            }
        }
    }

    /// The application's use of the setting (a PWM duty cycle, say).
    fn set_backlight(level: u8) {
        core::hint::black_box(level);
    }
}
