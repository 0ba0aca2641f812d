//! The seed demo on an emulated Cortex-M3: a store on a NOR flash simulator
//! in RAM (QEMU models the board's flash as read-only), 1 KiB regions, 40 %
//! high-water mark, sets until the store has switched A → B → A → B → A → B.
//! Every switch is printed over semihosting; every value is checked after
//! each switch and after reopening. Exits with success only if all check out.

#![no_std]
#![no_main]

use core::cell::RefCell;
use core::fmt::Write;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use twinkv_core::{
    flash_geometry, Config, FixedIndex, RegionId, SharedFlashRegion, SimFlash, Store,
};
use twinkv_firmware::{stack, Buf};

/// Write unit 4, erase unit 256: one partition of 2 KiB in two halves.
type Flash = SimFlash<&'static mut [u8], 4, 256>;
type Regions = SharedFlashRegion<'static, Flash>;
const REGION: u32 = 1024;
const FLASH_LEN: usize = Flash::storage_len(2 * REGION);
const KEYS: usize = 7;
const MAX_VALUE: usize = 32;
const CONFIG: Config = Config::new(7)
    .with_limits(16, MAX_VALUE as u32)
    .with_ratios(4000, 9000);
const _: () = assert!(CONFIG.fits(
    flash_geometry::<Flash>(REGION),
    flash_geometry::<Flash>(REGION)
));
const SCRATCH: usize = Store::<Regions, FixedIndex<64>, &mut [u8]>::scratch_len(&CONFIG, 4);

type Kv<'f, 's> = Store<SharedFlashRegion<'f, Flash>, FixedIndex<64>, &'s mut [u8]>;

/// The expected value of each key `k0..k6`.
struct Model {
    values: [Buf<MAX_VALUE>; KEYS],
}

fn key(k: usize) -> Buf<4> {
    let mut b = Buf::new();
    let _ = write!(b, "k{k}");
    b
}

/// Checks every key; prints and counts mismatches.
fn check(s: &mut Kv<'_, '_>, model: &Model, when: &str) -> u32 {
    let mut bad = 0;
    let mut buf = [0u8; MAX_VALUE];
    for (k, want) in model.values.iter().enumerate() {
        let key = key(k);
        let got = s.get(key.as_bytes(), &mut buf);
        let ok = match got {
            Ok(Some(n)) => &buf[..n] == want.as_bytes(),
            Ok(None) => want.as_bytes().is_empty(),
            Err(_) => false,
        };
        if !ok {
            bad += 1;
            hprintln!(
                "  MISMATCH {} k{}: {:?}",
                when,
                k,
                got.map(|o| o.map(|n| &buf[..n]))
            );
        }
    }
    if s.len()
        != model
            .values
            .iter()
            .filter(|v| !v.as_bytes().is_empty())
            .count()
    {
        bad += 1;
        hprintln!("  MISMATCH {}: len {}", when, s.len());
    }
    bad
}

fn open<'s>(flash: &'static RefCell<Flash>, scratch: &'s mut [u8]) -> Option<Kv<'static, 's>> {
    let (a, b) = SharedFlashRegion::halves(flash, 0, 2 * REGION).ok()?;
    Store::open(a, b, FixedIndex::new(), scratch, CONFIG).ok()
}

fn run(storage: &'static mut [u8]) -> bool {
    let flash: &'static RefCell<Flash> = match Flash::new(storage, 2 * REGION) {
        Ok(f) => cortex_m::singleton!(: RefCell<Flash> = RefCell::new(f))
            .unwrap_or_else(|| fail("flash")),
        Err(_) => fail("flash"),
    };
    let mut scratch = [0u8; SCRATCH];
    let mut model = Model {
        values: core::array::from_fn(|_| Buf::new()),
    };
    let mut bad = 0;
    let mut s = open(flash, &mut scratch[..]).unwrap_or_else(|| fail("open"));
    let mut active = s.stats().active;
    hprintln!(
        "twinkv seed demo: SimFlash in RAM, W=4 E=256, regions 2 x {} B, high-water 40 %; start in {:?}, generation {}",
        REGION,
        active,
        s.stats().generation
    );
    let mut switches = 0;
    let mut i = 0usize;
    while switches < 5 && i < 1000 {
        let k = i % KEYS;
        let mut v = Buf::<MAX_VALUE>::new();
        let _ = write!(v, "value-{i}");
        if s.set(key(k).as_bytes(), v.as_bytes()).is_err() {
            hprintln!("  set {} failed", i);
            bad += 1;
        }
        model.values[k] = v;
        let st = s.stats();
        if st.active != active {
            switches += 1;
            hprintln!(
                "switch {}: {:?} -> {:?} after write {}, generation {}, live {} B, used {} B of {} B",
                switches,
                active,
                st.active,
                i,
                st.generation,
                st.live_bytes,
                st.used_bytes,
                st.capacity
            );
            active = st.active;
            bad += check(&mut s, &model, "after switch");
            // Reopen on the same flash: the state survives.
            let (_, _, _, scratch) = s.into_parts();
            s = open(flash, scratch).unwrap_or_else(|| fail("reopen"));
            bad += check(&mut s, &model, "after reopen");
            let again = s.stats();
            if again.active != active || again.generation != st.generation {
                bad += 1;
                hprintln!(
                    "  MISMATCH after reopen: {:?} generation {}",
                    again.active,
                    again.generation
                );
            }
        }
        i += 1;
    }
    let st = s.stats();
    drop(s);
    let wear = flash.borrow().wear(|_| true);
    let fs = flash.borrow().stats();
    hprintln!(
        "{} writes, {} switches, now {:?} generation {}; flash: {} programs, {} B programmed, {} erases (max {} per unit)",
        i,
        switches,
        st.active,
        st.generation,
        fs.programs,
        fs.bytes_programmed,
        fs.erases,
        wear.max
    );
    let order_ok = switches == 5 && st.active == RegionId::B && st.generation == 6;
    if !order_ok {
        hprintln!("  expected 5 switches ending in B at generation 6");
    }
    bad == 0 && order_ok
}

fn fail(what: &str) -> ! {
    hprintln!("FAILED: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[entry]
fn main() -> ! {
    // The flash simulator's buffer: a static (in .bss), not on the stack.
    let storage: &'static mut [u8; FLASH_LEN] =
        cortex_m::singleton!(: [u8; FLASH_LEN] = [0; FLASH_LEN]).unwrap_or_else(|| fail("buffer"));
    stack::paint();
    let ok = run(storage);
    hprintln!(
        "peak stack {} B of {} B available",
        stack::peak(),
        stack::size()
    );
    if ok {
        hprintln!("all values check out");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("FAILED");
        debug::exit(debug::EXIT_FAILURE);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}
