//! [`MemRegion`]: a region over bytes in memory, for snapshots of live stores,
//! raw device images, and the erased stand-in of a missing file.

use std::io;

use twinkv_core::{all_erased, Geometry, MappedRegion, Region, ERASED};

/// A region over a `Vec<u8>` (any valid geometry). Copies of files read while
/// another process may write them are opened through it, so no shared mapping
/// is ever lent out as `&[u8]` while it changes.
#[derive(Clone, Debug)]
pub struct MemRegion {
    bytes: Vec<u8>,
    geometry: Geometry,
    in_order: bool,
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl MemRegion {
    /// A region holding `bytes` (`geometry.size` of them). `in_order` is
    /// [`Region::persists_in_order`]: `false` for copies of memory-mapped
    /// files, `true` for flash images.
    pub fn new(bytes: Vec<u8>, geometry: Geometry, in_order: bool) -> io::Result<Self> {
        if !geometry.is_valid() || bytes.len() != geometry.size as usize {
            return Err(invalid("bytes do not match a valid geometry"));
        }
        Ok(MemRegion {
            bytes,
            geometry,
            in_order,
        })
    }

    /// The bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn range(&self, offset: u32, len: usize) -> io::Result<std::ops::Range<usize>> {
        let start = offset as usize;
        match start.checked_add(len) {
            Some(end) if end <= self.bytes.len() => Ok(start..end),
            _ => Err(invalid("range outside the region")),
        }
    }
}

impl Region for MemRegion {
    type Error = io::Error;
    fn geometry(&self) -> Geometry {
        self.geometry
    }
    fn persists_in_order(&self) -> bool {
        self.in_order
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> io::Result<()> {
        let r = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> io::Result<()> {
        let w = self.geometry.write_unit;
        if !offset.is_multiple_of(w) || !data.len().is_multiple_of(w as usize) {
            return Err(invalid("program not aligned to the write unit"));
        }
        let r = self.range(offset, data.len())?;
        let dst = &mut self.bytes[r];
        if dst.iter().any(|&b| b != ERASED) {
            return Err(invalid("program over bytes that are not erased"));
        }
        dst.copy_from_slice(data);
        Ok(())
    }
    fn erase(&mut self, from: u32, to: u32) -> io::Result<()> {
        let e = self.geometry.erase_unit;
        if from > to || !from.is_multiple_of(e) || !to.is_multiple_of(e) {
            return Err(invalid("erase not aligned to the erase unit"));
        }
        let r = self.range(from, (to - from) as usize)?;
        self.bytes[r].fill(ERASED);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn is_erased(&mut self, from: u32, to: u32) -> io::Result<bool> {
        let r = self.range(from, to.saturating_sub(from) as usize)?;
        Ok(all_erased(&self.bytes[r]))
    }
    fn lend(&self) -> Option<&[u8]> {
        Some(&self.bytes)
    }
}

impl MappedRegion for MemRegion {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The region type inside [`Store`](crate::Store): a mapped file, or bytes in
/// memory (snapshots, the stand-in for a missing file in a read-only open).
pub(crate) enum AnyRegion {
    Mapped(crate::MmapRegion),
    Mem(MemRegion),
}

macro_rules! both {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            AnyRegion::Mapped($r) => $e,
            AnyRegion::Mem($r) => $e,
        }
    };
}

impl Region for AnyRegion {
    type Error = io::Error;
    fn geometry(&self) -> Geometry {
        both!(self, r => r.geometry())
    }
    fn persists_in_order(&self) -> bool {
        both!(self, r => r.persists_in_order())
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> io::Result<()> {
        both!(self, r => r.read(offset, buf))
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> io::Result<()> {
        both!(self, r => r.program(offset, data))
    }
    fn erase(&mut self, from: u32, to: u32) -> io::Result<()> {
        both!(self, r => r.erase(from, to))
    }
    fn sync(&mut self) -> io::Result<()> {
        both!(self, r => r.sync())
    }
    fn is_erased(&mut self, from: u32, to: u32) -> io::Result<bool> {
        both!(self, r => r.is_erased(from, to))
    }
    fn lend(&self) -> Option<&[u8]> {
        both!(self, r => r.lend())
    }
}

impl MappedRegion for AnyRegion {
    fn as_bytes(&self) -> &[u8] {
        both!(self, r => r.as_bytes())
    }
}
