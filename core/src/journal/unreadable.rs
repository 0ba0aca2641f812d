//! Reads through unreadable write units (FORMAT.md §10, "Read errors"): a
//! flash with ECC fails a read that touches a write unit a cut left torn
//! (or one damaged since). Core takes such a unit as bytes that are neither
//! erased nor valid, which is what a torn unit reads as without ECC, so
//! every rule that judges torn units (the dirty tail, torn markers and
//! headers, erases cut short) and every damage rule applies unchanged.

use super::Journal;
use super::{io, Region};
use crate::error::{Fail, Res};

/// What an unreadable byte reads as. Never erased, and in the first byte of
/// a record slot kind 15 (invalid: no header decodes) with its low nibble
/// set, as a torn header's kind bits are (FORMAT.md §6.2); no marker tag or
/// region header matches it.
pub(crate) const UNREADABLE: u8 = 0x7F;

#[io]
impl<R: Region> Journal<R> {
    /// `read`'s fallback after the region failed the read of `buf.len()`
    /// bytes at `off` with `first`: if the region calls the error
    /// unreadable, reads the range again one write unit at a time and fills
    /// each unit that fails so with [`UNREADABLE`]; any other error is
    /// returned.
    ///
    /// Never inlined: `read` is on every chain of record reads, and this
    /// fallback's locals would otherwise be in its frame.
    // Not outlined with feature `async`: both engines are compiled from
    // this source, and the async one's stack grew with these outlined
    // (footprint's async row: 8 884 B without, 10 132 B with them).
    #[cfg_attr(not(feature = "async"), inline(never))]
    pub(super) async fn read_units(
        &mut self,
        off: u32,
        buf: &mut [u8],
        first: R::Error,
    ) -> Res<(), R::Error> {
        if !self.region.unreadable(&first) {
            return Err(Fail::Region(first));
        }
        let w = self.geo.write_unit;
        let end = off + buf.len() as u32;
        let mut at = off;
        while at < end {
            let next = ((at / w + 1) * w).min(end);
            let piece = &mut buf[(at - off) as usize..(next - off) as usize];
            match self.region.read(at, piece).await {
                Ok(()) => {}
                Err(e) if self.region.unreadable(&e) => piece.fill(UNREADABLE),
                Err(e) => return Err(Fail::Region(e)),
            }
            at = next;
        }
        Ok(())
    }

    /// Whether the bytes at `off` may be a program of `want` that a cut
    /// tore: in each write unit, every byte keeps set the bits `want` keeps
    /// set (a tear only clears bits the program clears), or the unit is
    /// unreadable (a torn unit on a flash with ECC may hold any tear).
    pub(crate) async fn may_be_torn(&mut self, off: u32, want: &[u8]) -> Res<bool, R::Error> {
        let w = self.geo.write_unit;
        let end = off + want.len() as u32;
        let mut got = [0u8; 32];
        let mut at = off;
        while at < end {
            let next = ((at / w + 1) * w).min(end);
            let got = &mut got[..(next - at) as usize];
            let want = &want[(at - off) as usize..(next - off) as usize];
            match self.region.read(at, got).await {
                Ok(()) if got.iter().zip(want).any(|(&g, &e)| g & e != e) => return Ok(false),
                Ok(()) => {}
                Err(e) if self.region.unreadable(&e) => {}
                Err(e) => return Err(Fail::Region(e)),
            }
            at = next;
        }
        Ok(true)
    }
}
