//! The replay's view of the log on a region that does not lend its bytes
//! (flash): the scratch buffer the store was given holds a stretch of the
//! log, read with as few and as large reads as the buffer allows. The scan
//! decodes each record from the bytes in hand — header, record check, key
//! hash, and the key its index update compares — and a record cut by the
//! buffer's end is moved to the front and completed rather than read again.
//! So each record of the log is read once; the checks made on the bytes are
//! those every other path makes ([`Journal::slot`], [`Journal::verify`]).

use super::Journal;
use super::{io, Region};
use crate::error::{bug, Res};
use crate::format::record::{self, RecordHeader, SealState, Slot, LONG_HEADER_LEN};

/// Bytes of the region held in a buffer: `buf[..len]` are those at
/// `at .. at + len`.
pub(crate) struct Window<'a> {
    buf: &'a mut [u8],
    at: u32,
    len: u32,
}

impl<'a> Window<'a> {
    /// An empty window over `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Window { buf, at: 0, len: 0 }
    }

    /// The bytes at `off .. off + n`, if held.
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub(crate) fn get(&self, off: u32, n: u32) -> Option<&[u8]> {
        let from = off.checked_sub(self.at)?;
        let to = from.checked_add(n).filter(|&t| t <= self.len)?;
        self.buf.get(from as usize..to as usize)
    }

    /// Moves the bytes held from `buf[s]` on to the front, in pieces of at
    /// most `s` bytes that do not overlap (plain copies: no `memmove` in
    /// the firmware image for this one use).
    fn shift(&mut self, s: usize) {
        let len = self.len as usize;
        let mut done = 0;
        while s > 0 && done + s < len {
            let n = core::cmp::min(s, len - done - s);
            let (dst, src) = self.buf.split_at_mut(done + s);
            dst[done..done + n].copy_from_slice(&src[..n]);
            done += n;
        }
    }

    /// The bytes held from `off` on (none if `off` is not held).
    pub(crate) fn from(&self, off: u32) -> &[u8] {
        match off.checked_sub(self.at).filter(|&s| s <= self.len) {
            Some(s) => self.buf.get(s as usize..self.len as usize).unwrap_or(&[]),
            None => &[],
        }
    }
}

#[io]
impl<R: Region> Journal<R> {
    /// Makes `w` hold `off .. off + n` and returns those bytes; `None` if
    /// they do not fit in the buffer or the region (the caller then reads
    /// them another way). Reads from the end of what `w` already holds from
    /// `off` on (moved to the front of the buffer) up to as far as the
    /// buffer and the region allow, in one read.
    pub(crate) async fn fill<'w>(
        &mut self,
        w: &'w mut Window<'_>,
        off: u32,
        n: u32,
    ) -> Res<Option<&'w [u8]>, R::Error> {
        if w.get(off, n).is_none() {
            let cap = u32::try_from(w.buf.len()).unwrap_or(u32::MAX);
            let to = cap.min(self.geo.size.saturating_sub(off));
            if n > to {
                return Ok(None);
            }
            let keep = match off.checked_sub(w.at).filter(|&s| s < w.len) {
                Some(s) => {
                    w.shift(s as usize);
                    w.len - s
                }
                None => 0,
            };
            w.at = off;
            w.len = keep;
            let dst = w
                .buf
                .get_mut(keep as usize..to as usize)
                .ok_or_else(|| bug!())?;
            self.read(off + keep, dst).await?;
            w.len = to;
        }
        Ok(w.get(off, n))
    }

    /// [`slot`](Self::slot), from the bytes `w` holds (filling it) when the
    /// region does not lend its bytes.
    pub(crate) async fn slot_in(
        &mut self,
        w: &mut Window<'_>,
        off: u32,
        max_key: u32,
        max_value: u32,
    ) -> Res<Slot, R::Error> {
        let n = core::cmp::min(LONG_HEADER_LEN, self.geo.size.saturating_sub(off));
        if n >= 8 && self.region.lend().is_none() {
            let geo = self.geo;
            if let Some(b) = self.fill(w, off, n).await? {
                return Ok(super::checked_slot(b, off, geo, max_key, max_value));
            }
        }
        self.slot(off, max_key, max_value).await
    }

    /// [`verify`](Self::verify), over the bytes `w` holds (filling it) when
    /// the region does not lend its bytes and the record fits in the buffer;
    /// otherwise streamed.
    pub(crate) async fn verify_in(
        &mut self,
        w: &mut Window<'_>,
        off: u32,
        h: &RecordHeader,
        seal: SealState,
    ) -> Res<(bool, u32), R::Error> {
        if self.region.lend().is_none() {
            if let Some(rec) = self.fill(w, off, h.unaligned_len()).await? {
                return Ok(record::verify_hashing(rec, h, seal));
            }
        }
        self.verify(off, h, seal).await
    }

    /// `n` bytes at `off` inside the record the scan just checked
    /// ([`verify_in`](Self::verify_in)): in place if the region lends its
    /// bytes, else in `w` (a record always fits in the scratch buffer, which
    /// holds two of the largest).
    pub(crate) fn checked_bytes<'a>(
        &'a self,
        w: &'a Window<'_>,
        off: u32,
        n: u32,
    ) -> Res<&'a [u8], R::Error> {
        self.lent(off, n)
            .or_else(|| w.get(off, n))
            .ok_or_else(|| bug!())
    }
}
