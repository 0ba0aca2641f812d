//! [`KvStore`]: the calls the test kit makes on a store, so one scenario
//! (the power-cut runner, [`check_store`](super::check_store), a workload's
//! writes) drives the blocking [`Store`] and, through `asynch::Blocked`
//! (with `async`), the async one alike; a boxed
//! `dyn KvStore` is one too, so a scenario can open either front (see
//! `asynch::Front`) and drive what it got without naming its type.

use crate::{Error, Index, Op, Region, Stats, Store};

/// A store the test kit can drive, blocking.
pub trait KvStore {
    /// The region error.
    type E: core::fmt::Debug;
    /// [`Store::set`].
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error<Self::E>>;
    /// [`Store::remove`].
    fn remove(&mut self, key: &[u8]) -> Result<bool, Error<Self::E>>;
    /// [`Store::apply`].
    fn apply(&mut self, ops: &[Op<'_>]) -> Result<(), Error<Self::E>>;
    /// [`Store::clear`].
    fn clear(&mut self) -> Result<(), Error<Self::E>>;
    /// [`Store::compact`].
    fn compact(&mut self) -> Result<(), Error<Self::E>>;
    /// [`Store::repair`].
    fn repair(&mut self) -> Result<usize, Error<Self::E>>;
    /// [`Store::sync`].
    fn sync(&mut self) -> Result<(), Error<Self::E>>;
    /// [`Store::maintain`].
    fn maintain(&mut self, max_units: u32) -> Result<bool, Error<Self::E>>;
    /// [`Store::get`].
    fn get(&mut self, key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, Error<Self::E>>;
    /// [`Store::contains_key`].
    fn contains_key(&mut self, key: &[u8]) -> Result<bool, Error<Self::E>>;
    /// [`Store::len`].
    fn len(&self) -> usize;
    /// [`Store::is_empty`].
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// [`Store::stats`].
    fn stats(&self) -> Stats;
}

impl<R: Region, I: Index, B: AsMut<[u8]>> KvStore for Store<R, I, B> {
    type E = R::Error;
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error<R::Error>> {
        Store::set(self, key, value)
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool, Error<R::Error>> {
        Store::remove(self, key)
    }
    fn apply(&mut self, ops: &[Op<'_>]) -> Result<(), Error<R::Error>> {
        Store::apply(self, ops)
    }
    fn clear(&mut self) -> Result<(), Error<R::Error>> {
        Store::clear(self)
    }
    fn compact(&mut self) -> Result<(), Error<R::Error>> {
        Store::compact(self)
    }
    fn repair(&mut self) -> Result<usize, Error<R::Error>> {
        Store::repair(self)
    }
    fn sync(&mut self) -> Result<(), Error<R::Error>> {
        Store::sync(self)
    }
    fn maintain(&mut self, max_units: u32) -> Result<bool, Error<R::Error>> {
        Store::maintain(self, max_units)
    }
    fn get(&mut self, key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, Error<R::Error>> {
        Store::get(self, key, buf)
    }
    fn contains_key(&mut self, key: &[u8]) -> Result<bool, Error<R::Error>> {
        Store::contains_key(self, key)
    }
    fn len(&self) -> usize {
        Store::len(self)
    }
    fn stats(&self) -> Stats {
        Store::stats(self)
    }
}

impl<S: KvStore + ?Sized> KvStore for std::boxed::Box<S> {
    type E = S::E;
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error<S::E>> {
        (**self).set(key, value)
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool, Error<S::E>> {
        (**self).remove(key)
    }
    fn apply(&mut self, ops: &[Op<'_>]) -> Result<(), Error<S::E>> {
        (**self).apply(ops)
    }
    fn clear(&mut self) -> Result<(), Error<S::E>> {
        (**self).clear()
    }
    fn compact(&mut self) -> Result<(), Error<S::E>> {
        (**self).compact()
    }
    fn repair(&mut self) -> Result<usize, Error<S::E>> {
        (**self).repair()
    }
    fn sync(&mut self) -> Result<(), Error<S::E>> {
        (**self).sync()
    }
    fn maintain(&mut self, max_units: u32) -> Result<bool, Error<S::E>> {
        (**self).maintain(max_units)
    }
    fn get(&mut self, key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, Error<S::E>> {
        (**self).get(key, buf)
    }
    fn contains_key(&mut self, key: &[u8]) -> Result<bool, Error<S::E>> {
        (**self).contains_key(key)
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn is_empty(&self) -> bool {
        (**self).is_empty()
    }
    fn stats(&self) -> Stats {
        (**self).stats()
    }
}
