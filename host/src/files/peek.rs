//! `peek`: what the first bytes of a region file say (its header and the
//! commit and superseded markers), read before core sees the file.

use std::fs::File;
use std::path::Path;

use twinkv_core::format::header::HeaderError;
use twinkv_core::format::{Layout, Marker, MarkerState, RegionHeader, Seal, HEADER_LEN};

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
        matches!(self.commit, MarkerState::Valid(_))
    }
}

/// Reads a region file's header and marker slots.
pub(super) fn peek(path: &Path, file: &File) -> Result<Peek> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let layout = Layout::new(WRITE_UNIT);
    let mut head = [0xFFu8; 128];
    let n = (len.min(layout.data_start() as u64)) as usize;
    read_at(file, &mut head[..n], 0).map_err(|e| Error::io(path, e))?;
    let mut hb = [0u8; HEADER_LEN];
    hb.copy_from_slice(&head[..HEADER_LEN]);
    let header = if n < HEADER_LEN && !hb.iter().all(|&b| b == 0xFF) {
        Err(HeaderError::Invalid)
    } else {
        RegionHeader::decode(&hb)
    };
    let (mut commit, mut superseded) = (MarkerState::Erased, MarkerState::Erased);
    if let Ok(h) = header {
        if h.write_unit as u32 == WRITE_UNIT {
            let seal = Seal {
                store_id: h.store_id,
                generation: h.generation,
            };
            let slot = |m: Marker| {
                let at = layout.slot(m) as usize;
                &head[at..at + layout.marker_slot as usize]
            };
            commit = Marker::Commit.read(seal, slot(Marker::Commit));
            superseded = Marker::Superseded.read(seal, slot(Marker::Superseded));
        }
    }
    Ok(Peek {
        len,
        header,
        commit,
        superseded,
    })
}
