//! [`Stats`], a snapshot of a store's state, and [`RegionId`]: the same for
//! the blocking and the async store.

/// Which region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegionId {
    /// Region A.
    A,
    /// Region B.
    B,
}

impl RegionId {
    /// The partner region.
    pub const fn other(self) -> RegionId {
        match self {
            RegionId::A => RegionId::B,
            RegionId::B => RegionId::A,
        }
    }
}

/// A snapshot of the store's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// The active region.
    pub active: RegionId,
    /// The active region's generation.
    pub generation: u64,
    /// The store id both regions carry.
    pub store_id: u64,
    /// Capacity of the active region (bytes for records).
    pub capacity: u32,
    /// Record bytes in the active region's log (live or not).
    pub used_bytes: u32,
    /// Of `used_bytes`, those an open checks record by record: all of
    /// them, except the span a switch's covering marker vouches for at
    /// once (FORMAT.md §6.4; only on regions that lend their bytes and do
    /// not persist in order, such as the host's files). What a reopen's
    /// cost follows besides the record count; the host store weighs it in
    /// deciding whether a close compacts.
    pub uncovered_bytes: u32,
    /// Bytes a compaction would write: the live records and damage records.
    pub live_bytes: u32,
    /// Bytes left for appends in the active region.
    pub free_bytes: u32,
    /// Live data allowed: capacity × max-fill of the smaller region.
    pub fill_limit: u32,
    /// Switches since the store was opened.
    pub switches: u32,
    /// Keys with a value.
    pub live_keys: usize,
    /// Keys (or key-hash groups) that answer `get` with `Corrupted`.
    pub damaged_keys: usize,
    /// Problems found as mid-log damage when the store was opened, plus one
    /// if the active region's commit marker no longer reads valid (a weak
    /// cell after a cut, or damage; FORMAT.md §8).
    pub damage_found_at_open: u32,
    /// Times bytes were found past the active log's end that can be no
    /// part of the log (*stray bytes*, e.g. a bit flipped in erased flash;
    /// FORMAT.md §6.2) since open: by open (then also counted in
    /// `damage_found_at_open`) or by the read before an append reaches
    /// them. They cover no key: the log is closed before them (the next
    /// write switches, and the region is erased before its next use).
    pub stray_bytes_found: u32,
    /// The active log ended in a dirty tail (the next write switches).
    pub dirty_tail: bool,
    /// Read-only open found a switch whose "superseded" marker is missing.
    pub unfinished_switch: bool,
    /// Erase units of the inactive region still to erase before the next
    /// switch can use it (FORMAT.md §7.3); [`Store::maintain`](crate::Store::maintain) erases them.
    pub erase_pending: u32,
    /// Bytes of live records a switch under way has still to copy before
    /// its commit (FORMAT.md §7.4); 0 when none is under way.
    /// [`Store::maintain`](crate::Store::maintain) copies them in idle time.
    pub switch_pending: u32,
    /// A switch is under way: writes go to the active region while its
    /// live records are copied to the other one, a slice per write.
    pub switching: bool,
    /// The switch under way has copied everything and synced its target;
    /// the next call that writes commits it once the write is accepted, and
    /// a `sync` first (FORMAT.md §7.4: on regions that do not persist in
    /// order, the commit's two syncs go to two calls).
    pub commit_pending: bool,
    /// The store was opened read-only.
    pub read_only: bool,
    /// Opened by [`Store::open_salvage`](crate::Store::open_salvage) from a damaged newest state: what it
    /// shows may be older than the last acknowledged state.
    pub salvaged: bool,
}
