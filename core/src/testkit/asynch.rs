//! Driving the async store in tests (features `async` and `_testkit`):
//! [`block_on`], [`Blocked`] (an [`AsyncStore`] as a [`KvStore`]),
//! [`Yielding`] (a blocking region whose every call suspends once, or stops
//! for good at a [`Gate`]: the cancellation tests), and [`SplitFlash`] (a
//! NOR flash that reads blocking and writes async, nrf-softdevice's shape).

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::cell::Cell;
use std::rc::Rc;

use super::front::KvStore;
use super::model::{batch_ops, Write};
use super::power::{AsyncTestStore, Rig};
use crate::{AsyncRegion, AsyncStore, Error, Geometry, Index, Op, RamError, Region, Stats};

/// Runs `w` on the async store as one future stopped by `gate`: `None`
/// when the gate stopped it (the future is then dropped, as an executor
/// drops a cancelled task), else its result.
pub fn run_gated<R: AsyncRegion, I: Index, B: AsMut<[u8]>>(
    store: &mut AsyncStore<R, I, B>,
    w: &Write,
    gate: &Gate,
) -> Option<Result<(), Error<R::Error>>> {
    match w {
        Write::Set(k, v) => poll_until_gated(store.set(k, v), gate),
        Write::Delete(k) => poll_until_gated(store.remove(k), gate).map(|r| r.map(|_| ())),
        Write::Batch(ops) => poll_until_gated(store.apply(&batch_ops(ops)), gate),
        Write::Clear => poll_until_gated(store.clear(), gate),
        Write::Compact => poll_until_gated(store.compact(), gate),
        Write::Repair => poll_until_gated(store.repair(), gate).map(|r| r.map(|_| ())),
        Write::Sync => poll_until_gated(store.sync(), gate),
    }
}

/// Which store a scenario drives: the blocking one, or the async one driven
/// call by call ([`Blocked`]). Both are compiled from one engine source; a
/// scenario run through both checks the async compilation keeps every
/// guarantee. The kit's `open_as` functions ([`Rig::open_as`](super::Rig::open_as),
/// `flash::open_as`) open a [`DynStore`] through either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// [`Store`](crate::Store).
    Blocking,
    /// [`AsyncStore`], every call driven by [`block_on`].
    Async,
}

impl Front {
    /// Both fronts, blocking first.
    pub const BOTH: [Front; 2] = [Front::Blocking, Front::Async];
}

/// A store of either [`Front`], with region error `E`.
pub type DynStore<'a, E> = std::boxed::Box<dyn KvStore<E = E> + 'a>;

/// `s` as a [`DynStore`].
pub fn boxed<'a, S: KvStore + 'a>(s: S) -> DynStore<'a, S::E> {
    std::boxed::Box::new(s)
}

/// Polls `fut` to completion on this thread. A future that is pending
/// without hope (a [`Gate`] closed) spins forever: use [`poll_until_gated`]
/// for those.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Polls `fut` until it completes (`Some`) or `gate` has stopped it
/// (`None`: the future is then dropped here, as a cancelled call is).
pub fn poll_until_gated<F: Future>(fut: F, gate: &Gate) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        if gate.stopped.get() {
            return None;
        }
    }
}

/// Where a [`Gate`] stops the call it closes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAt {
    /// Before the region call does anything.
    Before,
    /// After the region call took effect, before it returns.
    After,
}

/// Lets `open` region calls through, then stops the next one for good.
#[derive(Debug)]
pub struct Gate {
    open: Cell<u64>,
    at: Cell<StopAt>,
    passed: Cell<u64>,
    stopped: Cell<bool>,
}

impl Gate {
    /// A gate that never closes.
    pub fn never() -> Rc<Gate> {
        Gate::after(u64::MAX, StopAt::Before)
    }
    /// A gate that lets `calls` region calls through and stops the next.
    pub fn after(calls: u64, at: StopAt) -> Rc<Gate> {
        Rc::new(Gate {
            open: Cell::new(calls),
            at: Cell::new(at),
            passed: Cell::new(0),
            stopped: Cell::new(false),
        })
    }
    /// Region calls that completed.
    pub fn passed(&self) -> u64 {
        self.passed.get()
    }
    /// Whether a call was stopped.
    pub fn stopped(&self) -> bool {
        self.stopped.get()
    }
    /// From now on, lets `calls` more region calls through and stops the
    /// next one at `at`.
    pub fn arm(&self, calls: u64, at: StopAt) {
        self.open.set(calls);
        self.at.set(at);
        self.stopped.set(false);
    }
    /// Lets every call through from now on.
    pub fn lift(&self) {
        self.open.set(u64::MAX);
        self.stopped.set(false);
    }
}

/// Suspends once (pending, then ready on the next poll), or for good if
/// the gate closes.
struct Step<'g> {
    gate: &'g Gate,
    yielded: bool,
}

impl Future for Step<'_> {
    type Output = ();
    fn poll(mut self: core::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.gate.stopped.get() {
            return Poll::Pending;
        }
        if !self.yielded {
            self.yielded = true;
            return Poll::Pending;
        }
        if self.gate.open.get() == 0 {
            self.gate.stopped.set(true);
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

/// A blocking region as an async one whose every call suspends once before
/// it does its work, so the store's futures really are pending at each
/// await of a region call; with a closed [`Gate`], the call stops there for
/// good ([`StopAt::Before`]) or just after its work ([`StopAt::After`]).
#[derive(Debug)]
pub struct Yielding<R> {
    /// The blocking region.
    pub inner: R,
    gate: Rc<Gate>,
}

impl<R: Region> Yielding<R> {
    /// `inner`, suspending at every call, stopped by `gate`.
    pub fn new(inner: R, gate: Rc<Gate>) -> Self {
        Yielding { inner, gate }
    }

    async fn call<T>(&mut self, f: impl FnOnce(&mut R) -> T) -> T {
        let gate = Rc::clone(&self.gate);
        Step {
            gate: &gate,
            yielded: false,
        }
        .await;
        let last = gate.open.get() == 1 && gate.at.get() == StopAt::After;
        let v = f(&mut self.inner);
        gate.open.set(gate.open.get().saturating_sub(1));
        gate.passed.set(gate.passed.get() + 1);
        if last {
            // The work is done; the call never returns.
            Step {
                gate: &gate,
                yielded: true,
            }
            .await;
        }
        v
    }
}

impl<R: Region> AsyncRegion for Yielding<R> {
    type Error = R::Error;
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }
    fn persists_in_order(&self) -> bool {
        self.inner.persists_in_order()
    }
    async fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), R::Error> {
        self.call(|r| r.read(offset, buf)).await
    }
    async fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), R::Error> {
        self.call(|r| r.program(offset, data)).await
    }
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), R::Error> {
        self.call(|r| r.erase(from, to)).await
    }
    async fn sync(&mut self) -> Result<(), R::Error> {
        self.call(|r| r.sync()).await
    }
    fn unreadable(&self, error: &R::Error) -> bool {
        self.inner.unreadable(error)
    }
    async fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, R::Error> {
        self.call(|r| r.is_erased(from, to)).await
    }
}

/// An [`AsyncStore`] driven to completion on every call ([`block_on`]), so
/// the test kit's scenarios run through the async front end.
pub struct Blocked<R: AsyncRegion, I: Index, B: AsMut<[u8]>>(pub AsyncStore<R, I, B>);

impl<R: AsyncRegion, I: Index, B: AsMut<[u8]>> KvStore for Blocked<R, I, B> {
    type E = R::Error;
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error<R::Error>> {
        block_on(self.0.set(key, value))
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool, Error<R::Error>> {
        block_on(self.0.remove(key))
    }
    fn apply(&mut self, ops: &[Op<'_>]) -> Result<(), Error<R::Error>> {
        block_on(self.0.apply(ops))
    }
    fn clear(&mut self) -> Result<(), Error<R::Error>> {
        block_on(self.0.clear())
    }
    fn compact(&mut self) -> Result<(), Error<R::Error>> {
        block_on(self.0.compact())
    }
    fn repair(&mut self) -> Result<usize, Error<R::Error>> {
        block_on(self.0.repair())
    }
    fn sync(&mut self) -> Result<(), Error<R::Error>> {
        block_on(self.0.sync())
    }
    fn maintain(&mut self, max_units: u32) -> Result<bool, Error<R::Error>> {
        block_on(self.0.maintain(max_units))
    }
    fn get(&mut self, key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, Error<R::Error>> {
        block_on(self.0.get(key, buf))
    }
    fn contains_key(&mut self, key: &[u8]) -> Result<bool, Error<R::Error>> {
        block_on(self.0.contains_key(key))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn stats(&self) -> Stats {
        self.0.stats()
    }
}

/// A NOR flash whose reads are blocking and whose writes and erases are
/// async (each suspends once): the shape of nrf-softdevice's `Flash`, which
/// implements blocking `ReadNorFlash` but only async `NorFlash`. It
/// implements no blocking `NorFlash`, so only
/// [`AsyncFlashRegion`](crate::AsyncFlashRegion) can take it.
#[derive(Debug)]
pub struct SplitFlash<F>(pub F);

mod split {
    use super::*;
    use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
    use embedded_storage_async::nor_flash as nb;

    async fn yield_once() {
        let gate = Gate::never();
        Step {
            gate: &gate,
            yielded: false,
        }
        .await
    }

    impl<F: ErrorType> ErrorType for SplitFlash<F> {
        type Error = F::Error;
    }
    impl<F: ReadNorFlash> ReadNorFlash for SplitFlash<F> {
        const READ_SIZE: usize = F::READ_SIZE;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), F::Error> {
            self.0.read(offset, bytes)
        }
        fn capacity(&self) -> usize {
            self.0.capacity()
        }
    }
    impl<F: ReadNorFlash> nb::ReadNorFlash for SplitFlash<F> {
        const READ_SIZE: usize = F::READ_SIZE;
        async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), F::Error> {
            self.0.read(offset, bytes)
        }
        fn capacity(&self) -> usize {
            self.0.capacity()
        }
    }
    impl<F: NorFlash> nb::NorFlash for SplitFlash<F> {
        const WRITE_SIZE: usize = F::WRITE_SIZE;
        const ERASE_SIZE: usize = F::ERASE_SIZE;
        async fn erase(&mut self, from: u32, to: u32) -> Result<(), F::Error> {
            yield_once().await;
            self.0.erase(from, to)
        }
        async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), F::Error> {
            yield_once().await;
            self.0.write(offset, bytes)
        }
    }
}

/// Opening a [`Rig`] through either [`Front`].
impl<'p> Rig<'p> {
    /// Opens the async store read-only (as [`open_async`](Self::open_async)).
    pub fn open_read_only_async(&mut self) -> Result<AsyncTestStore<'_, 'p>, Error<RamError>> {
        let scratch = std::vec![0u8; 4096];
        let a = Yielding::new(&mut self.a, Gate::never());
        let b = Yielding::new(&mut self.b, Gate::never());
        block_on(AsyncStore::open_read_only(
            a,
            b,
            super::noting::NotingIndex::new(),
            scratch,
            self.config,
        ))
        .map(Blocked)
    }
    /// [`open`](Self::open) or [`open_async`](Self::open_async), by `front`.
    pub fn open_as(&mut self, front: Front) -> Result<DynStore<'_, RamError>, Error<RamError>> {
        match front {
            Front::Blocking => self.open().map(boxed),
            Front::Async => self.open_async().map(boxed),
        }
    }
    /// [`open_read_only`](Self::open_read_only) or
    /// [`open_read_only_async`](Self::open_read_only_async), by `front`.
    pub fn open_read_only_as(
        &mut self,
        front: Front,
    ) -> Result<DynStore<'_, RamError>, Error<RamError>> {
        match front {
            Front::Blocking => self.open_read_only().map(boxed),
            Front::Async => self.open_read_only_async().map(boxed),
        }
    }
}
