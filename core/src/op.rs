//! [`Op`]: one write of an atomic batch, the same for the blocking and the
//! async store.

/// One write of an atomic batch ([`Store::apply`](crate::Store::apply)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
