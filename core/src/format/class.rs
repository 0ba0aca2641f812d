//! [`RegionClass`]: what a region's header area says, as open reads it
//! (FORMAT.md §8).

use super::{MarkerState, RegionHeader};

/// What a region's header area says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegionClass {
    /// Every byte reads erased.
    Empty,
    /// A valid header (of some store) with the state of its three markers.
    Formatted {
        /// The decoded header.
        header: RegionHeader,
        /// "switching" slot.
        switching: MarkerState,
        /// "commit" slot (valid ⇒ committed; the argument is the data end).
        commit: MarkerState,
        /// "superseded" slot.
        superseded: MarkerState,
    },
    /// A twinkv header of an unsupported format version.
    Unsupported,
    /// Neither empty nor a valid header.
    Unrecognised,
}
