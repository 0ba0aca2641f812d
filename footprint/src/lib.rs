//! What every footprint firmware shares: the flash (a static RAM array
//! behind a bare NOR flash driver), the workload's keys and values, stack
//! painting and the report over semihosting.
//!
//! Each binary in `src/bin/` is one row of the table `run.sh` prints:
//! `baseline` does the same start-up and report without a store, the others
//! open a store on an erased flash, set [`KEYS`] to [`VALUES`] and read them
//! back. Everything a store needs (its object, buffers, caches) lives on the
//! stack of the work function, so the peak stack is the store's whole RAM
//! apart from the flash.
//!
//! The firmware may use `unsafe` where the hardware demands it; each use is
//! in [`stack`], with its argument. No binary links `alloc`.
#![no_std]

use core::cell::RefCell;
use core::hint::black_box;

use embedded_storage::nor_flash::{self as nor, NorFlashErrorKind};

/// Write unit (bytes) of the flash.
pub const WRITE: usize = 4;
/// Erase unit (bytes) of the flash.
pub const ERASE: usize = 4096;

/// twinkv's configuration in each of its rows: keys up to 16 B, values up
/// to 32 B (the peers' limits), store id `0x5EED`.
pub const TWINKV_CONFIG: twinkv_core::Config = twinkv_core::Config::new(0x5EED).with_limits(16, 32);
/// The scratch buffer a twinkv store needs with [`TWINKV_CONFIG`] at [`WRITE`].
pub const TWINKV_SCRATCH: usize = TWINKV_CONFIG.scratch_len(WRITE as u32);

/// The three keys set and read back (at most 16 bytes, like every store's
/// key limit here).
pub const KEYS: [[u8; 6]; 3] = [*b"volume", *b"bright", *b"region"];
/// Their values (at most 32 bytes).
pub const VALUES: [&[u8]; 3] = [b"7", b"80 %", b"eu-868 MHz"];

/// A bare NOR flash over a RAM array (a program ANDs, an erase fills `0xFF`;
/// bounds and alignment checked), standing in for a HAL flash driver that
/// has the blocking and the async `NorFlash`, as embassy's drivers do.
pub struct RamFlash {
    bytes: &'static mut [u8],
}

impl RamFlash {
    /// A flash over `bytes`, erased.
    pub fn erased(bytes: &'static mut [u8]) -> Self {
        bytes.fill(0xFF);
        RamFlash { bytes }
    }
}

impl nor::ErrorType for RamFlash {
    type Error = NorFlashErrorKind;
}

impl nor::ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        nor::check_read(self, offset, bytes.len())?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl nor::NorFlash for RamFlash {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        nor::check_erase(self, from, to)?;
        self.bytes[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        nor::check_write(self, offset, bytes.len())?;
        let at = offset as usize;
        for (d, s) in self.bytes[at..at + bytes.len()].iter_mut().zip(bytes) {
            *d &= *s;
        }
        Ok(())
    }
}

// `embedded_storage_async::nor_flash::ErrorType` is the blocking trait,
// re-exported: implemented above.

impl embedded_storage_async::nor_flash::ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        nor::ReadNorFlash::read(self, offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl embedded_storage_async::nor_flash::NorFlash for RamFlash {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        nor::NorFlash::erase(self, from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        nor::NorFlash::write(self, offset, bytes)
    }
}

/// A [`RamFlash`] shared through a `RefCell` by the two regions of an async
/// store, as an async NOR flash (the whole flash; `AsyncFlashRegion::new`
/// takes each region's range of it): what `SharedFlashRegion::halves` does
/// for the blocking store. Each call borrows the flash for its duration,
/// which never spans an await (the RAM flash completes at once).
pub struct SharedAsync<'f>(pub &'f RefCell<RamFlash>);

impl nor::ErrorType for SharedAsync<'_> {
    type Error = NorFlashErrorKind;
}

impl SharedAsync<'_> {
    fn flash(&self) -> Result<core::cell::RefMut<'_, RamFlash>, NorFlashErrorKind> {
        self.0
            .try_borrow_mut()
            .map_err(|_| NorFlashErrorKind::Other)
    }
}

impl embedded_storage_async::nor_flash::ReadNorFlash for SharedAsync<'_> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        nor::ReadNorFlash::read(&mut *self.flash()?, offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.0.borrow().bytes.len()
    }
}

impl embedded_storage_async::nor_flash::NorFlash for SharedAsync<'_> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        nor::NorFlash::erase(&mut *self.flash()?, from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        nor::NorFlash::write(&mut *self.flash()?, offset, bytes)
    }
}

/// ekv's own flash trait, in pages of [`ERASE`] bytes (what an ekv user
/// writes over a HAL driver).
impl ekv::flash::Flash for RamFlash {
    type Error = NorFlashErrorKind;

    fn page_count(&self) -> usize {
        self.bytes.len() / ERASE
    }

    async fn erase(&mut self, page_id: ekv::flash::PageID) -> Result<(), Self::Error> {
        let at = (page_id.index() * ERASE) as u32;
        nor::NorFlash::erase(self, at, at + ERASE as u32)
    }

    async fn read(
        &mut self,
        page_id: ekv::flash::PageID,
        offset: usize,
        data: &mut [u8],
    ) -> Result<(), Self::Error> {
        nor::ReadNorFlash::read(self, (page_id.index() * ERASE + offset) as u32, data)
    }

    async fn write(
        &mut self,
        page_id: ekv::flash::PageID,
        offset: usize,
        data: &[u8],
    ) -> Result<(), Self::Error> {
        nor::NorFlash::write(self, (page_id.index() * ERASE + offset) as u32, data)
    }
}

/// Key `i` of the workload, opaque to the optimiser.
pub fn key(i: usize) -> [u8; 6] {
    black_box(KEYS[i])
}

/// Value `i` of the workload, opaque to the optimiser.
pub fn value(i: usize) -> &'static [u8] {
    black_box(VALUES[i])
}

/// An 8-byte value that changes with `n`: its decimal digits (the rows
/// whose workloads overwrite keys many times).
pub fn counter(n: u32) -> [u8; 8] {
    let mut v = [b'0'; 8];
    let mut n = n;
    for d in v.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    core::hint::black_box(v)
}

/// Whether `got` (the bytes read back for key `i`) is value `i`.
pub fn matches(i: usize, got: &[u8]) -> bool {
    black_box(got) == VALUES[i]
}

/// Paints the stack, runs `work` (which returns whether every value read
/// back matched), and reports over semihosting: `ok` or `FAILED`, then the
/// peak stack of `work` in bytes. Exits QEMU with success only if `work`
/// returned `true`.
pub fn measure(name: &str, work: fn() -> bool) -> ! {
    let base = stack::paint();
    let ok = black_box(work)();
    let peak = stack::peak(base);
    let mut line = Line::new();
    line.push(name.as_bytes());
    line.push(if ok { b": ok" } else { b": FAILED" });
    line.push(b"; peak stack ");
    line.number(peak);
    line.push(b" B\n");
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = out.write_all(line.as_bytes());
    }
    cortex_m_semihosting::debug::exit(if ok {
        cortex_m_semihosting::debug::EXIT_SUCCESS
    } else {
        cortex_m_semihosting::debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A line of output built without `core::fmt` (which would add to every
/// row, baseline included, and blur what is left after subtracting it).
struct Line {
    bytes: [u8; 96],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line {
            bytes: [0; 96],
            len: 0,
        }
    }

    fn push(&mut self, s: &[u8]) {
        let end = (self.len + s.len()).min(self.bytes.len());
        self.bytes[self.len..end].copy_from_slice(&s[..end - self.len]);
        self.len = end;
    }

    fn number(&mut self, mut n: usize) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

pub mod stack {
    //! Stack high-water measurement: [`paint`] fills the free RAM below the
    //! caller's stack pointer with a pattern, [`peak`] finds the lowest word
    //! that no longer holds it.
    //!
    //! cortex-m-rt's `link.x` places the stack at the top of RAM (growing
    //! down) and ends the statics at `_stack_end`. There is no heap, so the
    //! words between `_stack_end` and the stack pointer belong to nobody.

    use core::ptr::{addr_of, read_volatile, write_volatile};

    const PAINT: u32 = 0x5EED_C0DE;
    /// Bytes left unpainted below the stack pointer of [`paint`]: its own
    /// frame. They count as used in every row (the baseline shows them).
    const MARGIN: usize = 64;

    extern "C" {
        static _stack_end: u32;
    }

    /// Lowest address of the stack region.
    fn bottom() -> usize {
        // Taking the address of an extern static is safe; nothing is read.
        addr_of!(_stack_end) as usize
    }

    /// Fills the unused stack with the pattern and returns the stack pointer
    /// of the caller's frame, from which [`peak`] counts.
    #[inline(never)]
    pub fn paint() -> usize {
        let sp = cortex_m::register::msp::read() as usize;
        let end = sp.saturating_sub(MARGIN) & !3;
        let mut p = bottom();
        while p < end {
            // SAFETY: `p` is word-aligned (`_stack_end` is 4-aligned by
            // link.x) and lies in `_stack_end .. sp - MARGIN`: RAM above
            // every static and below the live stack, which nothing owns (no
            // heap, single core, interrupts unused). This function's frame
            // is above `sp - MARGIN`. Volatile: the writes must happen.
            unsafe { write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
        sp
    }

    /// Bytes of stack used below `base` (from [`paint`]) at most since it
    /// painted: down to the lowest word that lost the pattern.
    pub fn peak(base: usize) -> usize {
        let mut p = bottom();
        while p < base {
            // SAFETY: `p` is a word-aligned address in `_stack_end .. base`,
            // RAM below the stack pointer of `paint`; a volatile read has no
            // side effect.
            if unsafe { read_volatile(p as *const u32) } != PAINT {
                break;
            }
            p += 4;
        }
        base - p
    }
}

/// Bytes of [`two_units`].
pub const TWO_UNITS: usize = 2 * ERASE;

/// A flash of two erase units (2 × 4 KiB), erased: what twinkv and
/// sequential-storage run on. Call once.
pub fn two_units() -> RamFlash {
    // In `.bss` (zeroed, so it costs no flash), erased at run time.
    match cortex_m::singleton!(: [u8; TWO_UNITS] = [0; TWO_UNITS]) {
        Some(bytes) => RamFlash::erased(bytes),
        None => halt(),
    }
}

/// A flash of [`EKV_UNITS`] erase units, erased: ekv cannot run on two (see
/// `Cargo.toml`). Call once.
pub fn ekv_units() -> RamFlash {
    const LEN: usize = EKV_UNITS * ERASE;
    match cortex_m::singleton!(: [u8; LEN] = [0; LEN]) {
        Some(bytes) => RamFlash::erased(bytes),
        None => halt(),
    }
}

/// Erase units of ekv's flash: its page budget is 16 (`max-page-count-16`),
/// of which it reserves 7 (fewer than half, or it does not build); 12 leave
/// it 5 for data.
pub const EKV_UNITS: usize = 12;

fn halt() -> ! {
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// sequential-storage's map on [`two_units`] with `cache`, as its users with
/// a blocking HAL drive it (`block_on`): open (a map is opened lazily), set
/// the keys, fetch them.
pub fn sequential_storage<C>(cache: C) -> bool
where
    C: sequential_storage::cache::CacheImpl<[u8; 6]>,
{
    use sequential_storage::map::{MapConfig, MapStorage};
    let mut map =
        MapStorage::<[u8; 6], _, _>::new(two_units(), MapConfig::new(0..TWO_UNITS as u32), cache);
    // An item: header, key, value, padding to the write unit.
    let mut buf = [0u8; 64];
    embassy_futures::block_on(async {
        for i in 0..KEYS.len() {
            if map
                .store_item::<&[u8]>(&mut buf, &key(i), &value(i))
                .await
                .is_err()
            {
                return false;
            }
        }
        for i in 0..KEYS.len() {
            match map.fetch_item::<&[u8]>(&mut buf, &key(i)).await {
                Ok(Some(got)) if matches(i, got) => {}
                _ => return false,
            }
        }
        true
    })
}
