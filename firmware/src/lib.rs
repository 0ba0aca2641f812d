//! Support shared by the firmware binaries: stack painting, a formatting
//! buffer, and a plain RAM NOR flash for the footprint build.
//!
//! The firmware may use `unsafe` where the hardware demands it; each use is
//! here, in [`stack`], with its argument. `twinkv-core` itself forbids
//! `unsafe` and needs no allocator: no binary here defines a
//! `#[global_allocator]`, and none links `alloc`.
#![no_std]

pub mod stack {
    //! Stack high-water measurement: [`paint`] fills the free RAM below the
    //! stack with a pattern at start-up, [`peak`] finds the lowest word that
    //! no longer holds it.
    //!
    //! cortex-m-rt's `link.x` places the stack at the top of RAM
    //! (`_stack_start`, growing down) and ends the statics at `_stack_end`
    //! (`.data`, `.bss`, `.uninit` below it). There is no heap, so the words
    //! between `_stack_end` and the stack pointer belong to nobody yet.

    use core::ptr::{addr_of, read_volatile, write_volatile};

    const PAINT: u32 = 0x5EED_C0DE;
    /// Bytes left unpainted below the stack pointer of [`paint`]: its own
    /// frame and the call into it.
    const MARGIN: usize = 128;

    extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }

    /// `(lowest, highest)` address of the stack region.
    fn bounds() -> (usize, usize) {
        // Taking the address of an extern static is safe; nothing is read.
        (
            addr_of!(_stack_end) as usize,
            addr_of!(_stack_start) as usize,
        )
    }

    /// Fills the unused stack with the pattern. Call once, early in `main`.
    #[inline(never)]
    pub fn paint() {
        let sp = cortex_m::register::msp::read() as usize;
        let (bottom, _) = bounds();
        let end = sp.saturating_sub(MARGIN) & !3;
        let mut p = bottom;
        while p < end {
            // SAFETY: `p` is word-aligned (`_stack_end` is asserted 4-aligned
            // by link.x) and lies in `_stack_end .. sp - MARGIN`: RAM above
            // every static and below the live stack, which nothing owns (no
            // heap, single core, interrupts unused). This function's own
            // frame is above `sp - MARGIN`. Volatile: the writes must happen.
            unsafe { write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
    }

    /// Bytes of stack used so far at most (since [`paint`]): from the top of
    /// RAM down to the lowest word that lost the pattern. Frames that were
    /// live before `paint` count in full.
    pub fn peak() -> usize {
        let (bottom, top) = bounds();
        let mut p = bottom;
        while p < top {
            // SAFETY: `p` is a word-aligned address inside the stack region
            // (`_stack_end .. _stack_start`), which is RAM; a volatile read
            // of it has no side effect.
            if unsafe { read_volatile(p as *const u32) } != PAINT {
                break;
            }
            p += 4;
        }
        top - p
    }

    /// Size of the stack region (RAM not taken by statics).
    pub fn size() -> usize {
        let (bottom, top) = bounds();
        top - bottom
    }
}

/// A small `core::fmt::Write` buffer (keys and values are built without an
/// allocator).
pub struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
        }
    }
    /// The bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A bare NOR flash in RAM (write ANDs, erase fills `0xFF`, bounds and
/// alignment checked), standing in for a HAL flash driver in the footprint
/// build: no counters, no fault injection.
pub struct RamFlash<'a, const W: usize, const E: usize> {
    bytes: &'a mut [u8],
}

impl<'a, const W: usize, const E: usize> RamFlash<'a, W, E> {
    /// A flash over `bytes`, erased.
    pub fn erased(bytes: &'a mut [u8]) -> Self {
        bytes.fill(0xFF);
        RamFlash { bytes }
    }
}

impl<const W: usize, const E: usize> embedded_storage::nor_flash::ErrorType for RamFlash<'_, W, E> {
    type Error = embedded_storage::nor_flash::NorFlashErrorKind;
}

impl<const W: usize, const E: usize> embedded_storage::nor_flash::ReadNorFlash
    for RamFlash<'_, W, E>
{
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_read(self, offset, bytes.len())?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl<const W: usize, const E: usize> embedded_storage::nor_flash::NorFlash for RamFlash<'_, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_erase(self, from, to)?;
        self.bytes[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_write(self, offset, bytes.len())?;
        let at = offset as usize;
        for (d, s) in self.bytes[at..at + bytes.len()].iter_mut().zip(bytes) {
            *d &= *s;
        }
        Ok(())
    }
}
