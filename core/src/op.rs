//! [`Op`]: one write of an atomic batch, the same for the blocking and the
//! async store.

/// One write of an atomic batch ([`Store::apply`](crate::Store::apply)).
///
/// `#[repr(C, u8)]`: the key is at the same place in both variants, so
/// [`Op::key`] is a load rather than a branch on the variant (in a minimal
/// firmware, 17 inlined copies of that branch were 148 B of flash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, u8)]
pub enum Op<'a> {
    /// Set a key to a value.
    Set(&'a [u8], &'a [u8]),
    /// Delete a key.
    Delete(&'a [u8]),
}

impl<'a> Op<'a> {
    /// The key this operation writes.
    pub fn key(&self) -> &'a [u8] {
        match *self {
            Op::Set(k, _) | Op::Delete(k) => k,
        }
    }
}
