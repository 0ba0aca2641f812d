//! Adapters of the embedded peers onto any blocking `NorFlash` shared through
//! a `RefCell` (here twinkv's simulator behind [`crate::embkv::Metered`], so
//! every store is counted by the same wrapper): sequential-storage through
//! `embedded-storage-async`, ekv through its own `Flash` trait.

use std::cell::RefCell;

use embedded_storage::nor_flash::{MultiwriteNorFlash, NorFlash, NorFlashError};

use crate::embkv::PAGE;

/// `embedded-storage-async` view of a shared flash (for sequential-storage).
pub struct AsyncFlash<'a, F>(pub &'a RefCell<F>);

impl<F: NorFlash> embedded_storage_async::nor_flash::ErrorType for AsyncFlash<'_, F>
where
    F::Error: NorFlashError,
{
    type Error = F::Error;
}

impl<F: NorFlash> embedded_storage_async::nor_flash::ReadNorFlash for AsyncFlash<'_, F>
where
    F::Error: NorFlashError,
{
    const READ_SIZE: usize = F::READ_SIZE;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), F::Error> {
        self.0.borrow_mut().read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.borrow().capacity()
    }
}

impl<F: NorFlash> embedded_storage_async::nor_flash::NorFlash for AsyncFlash<'_, F>
where
    F::Error: NorFlashError,
{
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), F::Error> {
        self.0.borrow_mut().erase(from, to)
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), F::Error> {
        self.0.borrow_mut().write(offset, bytes)
    }
}

/// sequential-storage's `remove_item` needs a part that may AND-rewrite a
/// word (see [`crate::embkv::Metered`]).
impl<F: MultiwriteNorFlash> embedded_storage_async::nor_flash::MultiwriteNorFlash
    for AsyncFlash<'_, F>
where
    F::Error: NorFlashError,
{
}

/// ekv's `Flash` view of a shared flash of [`PAGE`]-byte pages (ekv's
/// page size is fixed by its features).
pub struct EkvFlash<'a, F>(pub &'a RefCell<F>);

impl<F: NorFlash> ekv::flash::Flash for EkvFlash<'_, F>
where
    F::Error: core::fmt::Debug,
{
    type Error = F::Error;
    fn page_count(&self) -> usize {
        self.0.borrow().capacity() / PAGE
    }
    async fn erase(&mut self, page_id: ekv::flash::PageID) -> Result<(), F::Error> {
        let p = (page_id.index() * PAGE) as u32;
        self.0.borrow_mut().erase(p, p + PAGE as u32)
    }
    async fn read(
        &mut self,
        page_id: ekv::flash::PageID,
        offset: usize,
        data: &mut [u8],
    ) -> Result<(), F::Error> {
        let at = (page_id.index() * PAGE + offset) as u32;
        self.0.borrow_mut().read(at, data)
    }
    async fn write(
        &mut self,
        page_id: ekv::flash::PageID,
        offset: usize,
        data: &[u8],
    ) -> Result<(), F::Error> {
        let at = (page_id.index() * PAGE + offset) as u32;
        self.0.borrow_mut().write(at, data)
    }
}
