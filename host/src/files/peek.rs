//! `peek`: what the first bytes of a region file say (its header and the
//! commit and superseded markers), read before core sees the file.

use std::fs::File;
use std::path::Path;

use twinkv_core::format::area::{read_header_area, MAX_AREA_LEN};
use twinkv_core::format::header::HeaderError;
use twinkv_core::format::{Layout, MarkerState, RegionHeader};

use super::sys::read_at;
use crate::error::{Error, Result};
use crate::region::WRITE_UNIT;

/// What the first bytes of a region file say.
#[derive(Clone, Copy, Debug)]
pub(super) struct Peek {
    pub(crate) len: u64,
    pub(crate) header: std::result::Result<RegionHeader, HeaderError>,
    pub(crate) commit: MarkerState,
    pub(crate) superseded: MarkerState,
}

impl Peek {
    pub(super) fn committed(&self) -> bool {
        self.commit.is_valid()
    }
}

/// Reads a region file's header and marker slots (FORMAT.md §2, §3, through
/// core's `format::area`): a file shorter than the header area reads erased
/// past its end; the markers of a header of another write unit are not read.
pub(super) fn peek(path: &Path, file: &File) -> Result<Peek> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let layout = Layout::new(WRITE_UNIT);
    let mut head = [0u8; MAX_AREA_LEN];
    let n = (len.min(u64::from(layout.data_start()))) as usize;
    read_at(file, &mut head[..n], 0).map_err(|e| Error::io(path, e))?;
    let size = u32::try_from(len).unwrap_or(u32::MAX);
    let (header, commit, superseded) = match read_header_area(&head[..n], layout, size) {
        Ok(a) if u32::from(a.header.write_unit) == WRITE_UNIT => {
            (Ok(a.header), a.commit, a.superseded)
        }
        Ok(a) => (Ok(a.header), MarkerState::Erased, MarkerState::Erased),
        Err(e) => (Err(e), MarkerState::Erased, MarkerState::Erased),
    };
    Ok(Peek {
        len,
        header,
        commit,
        superseded,
    })
}
