//! The async side of the medium (feature `async`): [`AsyncRegion`], the
//! region trait of [`AsyncStore`](crate::AsyncStore), with the same geometry
//! and power-loss contract as [`Region`]; [`BlockingAsync`], any blocking
//! region as an async one; and [`AsyncFlashRegion`], a region over an
//! `embedded_storage_async` NOR flash.

use embedded_storage_async::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

use crate::medium::flash::{
    check_units, locate, locate_u32, no_read_faults, read_plan, whole_size, FlashConfigError,
    FlashError, MAX_READ_SIZE,
};
use crate::medium::region::{all_erased, Geometry, MappedRegion, Region};

/// A byte region with NOR flash rules whose I/O is async: [`Region`]'s
/// contract word for word (read it there: the power-loss guarantees, the
/// offsets core passes, `sync` as the durability barrier), with `read`,
/// `program`, `erase`, `sync` and `is_erased` returning futures.
///
/// A future of `program` or `erase` dropped before it completes (the store
/// call awaiting it was cancelled) leaves its units as a power cut during
/// the call would: [`AsyncStore`](crate::AsyncStore) then refuses every
/// call until the regions are opened again, and open recovers them like
/// after a cut (README, "Async").
#[allow(async_fn_in_trait)] // like `embedded-storage-async`: no `Send` bound is promised
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub trait AsyncRegion {
    /// The medium's own error, kept reachable through
    /// [`Error::Region`](crate::Error::Region).
    type Error: core::fmt::Debug;

    /// The region's shape. Must not change while core holds the region.
    fn geometry(&self) -> Geometry;

    /// Whether programs persist in issue order without `sync`.
    fn persists_in_order(&self) -> bool;

    /// Reads `buf.len()` bytes at `offset`.
    async fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Programs `data` at `offset` (see [`Region::program`]).
    async fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error>;

    /// Erases the erase units covering `from..to`.
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error>;

    /// Durability barrier.
    async fn sync(&mut self) -> Result<(), Self::Error>;

    /// See [`Region::unreadable`].
    fn unreadable(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// See [`Region::lend`]: the whole region, if its bytes are in memory
    /// and reading them cannot fail; `None` by default.
    fn lend(&self) -> Option<&[u8]> {
        None
    }

    /// Whether every byte of `from..to` reads erased; the default reads in
    /// 64-byte chunks, as [`Region::is_erased`](crate::Region::is_erased)'s.
    async fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, Self::Error> {
        let mut buf = [0u8; 64];
        let mut at = from;
        while at < to {
            let n = core::cmp::min(buf.len() as u32, to - at) as usize;
            self.read(at, &mut buf[..n]).await?;
            if !all_erased(&buf[..n]) {
                return Ok(false);
            }
            at += n as u32;
        }
        Ok(true)
    }
}

/// An [`AsyncRegion`] whose bytes are in memory (see [`MappedRegion`]).
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub trait AsyncMappedRegion: AsyncRegion {
    /// The whole region, `geometry().size` bytes.
    fn as_bytes(&self) -> &[u8];
}

impl<R: AsyncRegion + ?Sized> AsyncRegion for &mut R {
    type Error = R::Error;
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn persists_in_order(&self) -> bool {
        (**self).persists_in_order()
    }
    async fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        (**self).read(offset, buf).await
    }
    async fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        (**self).program(offset, data).await
    }
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        (**self).erase(from, to).await
    }
    async fn sync(&mut self) -> Result<(), Self::Error> {
        (**self).sync().await
    }
    fn unreadable(&self, error: &Self::Error) -> bool {
        (**self).unreadable(error)
    }
    fn lend(&self) -> Option<&[u8]> {
        (**self).lend()
    }
    async fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, Self::Error> {
        (**self).is_erased(from, to).await
    }
}

impl<R: AsyncMappedRegion + ?Sized> AsyncMappedRegion for &mut R {
    fn as_bytes(&self) -> &[u8] {
        (**self).as_bytes()
    }
}

/// Any blocking [`Region`] as an [`AsyncRegion`]: each call does its work
/// when first polled and completes at once. For an async application whose
/// storage is blocking anyway (RAM, a memory-mapped file, a flash driver
/// without an async API), and for tests.
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub struct BlockingAsync<R>(pub R);

impl<R> BlockingAsync<R> {
    /// Gives the blocking region back.
    pub fn into_inner(self) -> R {
        self.0
    }
}

impl<R: Region> AsyncRegion for BlockingAsync<R> {
    type Error = R::Error;
    fn geometry(&self) -> Geometry {
        self.0.geometry()
    }
    fn persists_in_order(&self) -> bool {
        self.0.persists_in_order()
    }
    async fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, buf)
    }
    async fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        self.0.program(offset, data)
    }
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }
    async fn sync(&mut self) -> Result<(), Self::Error> {
        self.0.sync()
    }
    fn unreadable(&self, error: &Self::Error) -> bool {
        self.0.unreadable(error)
    }
    fn lend(&self) -> Option<&[u8]> {
        self.0.lend()
    }
    async fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, Self::Error> {
        self.0.is_erased(from, to)
    }
}

impl<R: MappedRegion> AsyncMappedRegion for BlockingAsync<R> {
    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// An [`AsyncRegion`] over a range of an `embedded_storage_async` NOR flash
/// it owns: [`FlashRegion`](crate::FlashRegion)'s rules (geometry from the
/// flash's sizes, construction errors, durability on return, the
/// [`with_unreadable`](Self::with_unreadable) declaration of ECC errors) for
/// async drivers. Only the writes need be async: a flash whose reads are
/// blocking and whose writes and erases are async (nrf-softdevice's
/// `Flash`) implements both traits this needs.
///
/// For both regions on one flash, give each an `embassy-embedded-hal`
/// async `Partition` of the flash (its mutex serialises the two).
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub struct AsyncFlashRegion<F: ErrorType> {
    flash: F,
    base: u32,
    geometry: Geometry,
    unreadable: fn(&F::Error) -> bool,
}

impl<F: NorFlash> AsyncFlashRegion<F> {
    /// The region `offset .. offset + size` of `flash` (both multiples of
    /// `ERASE_SIZE`).
    ///
    /// # Errors
    /// See [`FlashConfigError`].
    pub fn new(flash: F, offset: u32, size: u32) -> Result<Self, FlashConfigError> {
        let units = [F::READ_SIZE, F::WRITE_SIZE, F::ERASE_SIZE];
        let geometry = check_units(units, flash.capacity(), offset, size)?;
        Ok(AsyncFlashRegion {
            flash,
            base: offset,
            geometry,
            unreadable: no_read_faults::<F::Error>,
        })
    }

    /// The whole of `flash` as one region.
    ///
    /// # Errors
    /// See [`FlashConfigError`].
    pub fn whole(flash: F) -> Result<Self, FlashConfigError> {
        let size = whole_size(flash.capacity())?;
        Self::new(flash, 0, size)
    }

    /// See [`FlashRegion::with_unreadable`](crate::FlashRegion::with_unreadable).
    #[must_use]
    pub fn with_unreadable(mut self, unreadable: fn(&F::Error) -> bool) -> Self {
        self.unreadable = unreadable;
        self
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash, mutable.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash back.
    pub fn into_inner(self) -> F {
        self.flash
    }
}

/// The blocking flash region's `read_bounced` for an async flash: the
/// pieces of [`read_plan`], performed with `.await`.
async fn read_bounced<F: ReadNorFlash>(
    flash: &mut F,
    at: u32,
    buf: &mut [u8],
) -> Result<(), F::Error> {
    if F::READ_SIZE <= 1 {
        return flash.read(at, buf).await;
    }
    let mut bounce = [0u8; MAX_READ_SIZE];
    for piece in read_plan(at, buf.len(), F::READ_SIZE) {
        let (from, into) = piece.target(buf, &mut bounce);
        flash.read(from, into).await?;
        piece.finish(buf, &bounce);
    }
    Ok(())
}

impl<F: NorFlash> AsyncRegion for AsyncFlashRegion<F> {
    type Error = FlashError<F::Error>;

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// NOR flash programs are durable on return, in order.
    fn persists_in_order(&self) -> bool {
        true
    }

    async fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        let at = locate(self.base, self.geometry.size, offset, buf.len())?;
        read_bounced(&mut self.flash, at, buf)
            .await
            .map_err(FlashError::Flash)
    }

    async fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        let at = locate(self.base, self.geometry.size, offset, data.len())?;
        self.flash.write(at, data).await.map_err(FlashError::Flash)
    }

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = to.checked_sub(from).ok_or(FlashError::OutOfBounds)?;
        let at = locate_u32(self.base, self.geometry.size, from, len)?;
        self.flash
            .erase(at, at + len)
            .await
            .map_err(FlashError::Flash)
    }

    /// Nothing to do: NOR writes and erases are durable when they return.
    async fn sync(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn unreadable(&self, error: &Self::Error) -> bool {
        matches!(error, FlashError::Flash(e) if (self.unreadable)(e))
    }
}
