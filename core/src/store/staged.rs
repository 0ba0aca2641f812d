//! Staged index offsets: while an atomic batch is planned or folded into a
//! switch (`batch`), each of its keys is held in the store's index as an
//! extra entry whose offset names an op of the batch, not a record. Record
//! lookups skip them; compiled without the `batch` feature too, since the
//! offset encoding of the index (`pair`) reserves their bit.

/// An index offset with this bit set is a batch's staged key (the low bits
/// are an op's position in the batch); record offsets stay below it (regions
/// are at most [`MAX_REGION_SIZE`](crate::MAX_REGION_SIZE), 1 GiB).
pub(super) const STAGED: u32 = 1 << 31;

/// Offsets from here on are never staged (the index's free mark).
pub(super) const STAGED_END: u32 = u32::MAX - 1;

/// The op position a staged index offset holds, `None` for a record offset
/// (and for the index's free mark).
#[inline]
pub(super) fn staged_op(off: u32) -> Option<usize> {
    (off & STAGED != 0 && off < STAGED_END).then_some((off & !STAGED) as usize)
}
