//! Adapters of the embedded peers onto twinkv's flash simulator: the same
//! `SimFlash` (and so the same counters) under sequential-storage (through
//! `embedded-storage-async`) and ekv (through its own `Flash` trait).

use std::cell::RefCell;

use embedded_storage::nor_flash::{NorFlash as _, ReadNorFlash as _};
use twinkv_core::{SimError, SimFlash};

/// Page (erase unit) size of the comparison.
pub const PAGE: usize = 4096;
/// Pages of the comparison.
pub const PAGES: usize = 16;
/// The simulated flash: write unit 4, erase unit 4 KiB.
pub type Sim = SimFlash<Vec<u8>, 4, PAGE>;

/// A fresh erased flash of 16 pages.
pub fn sim() -> Sim {
    let size = (PAGE * PAGES) as u32;
    Sim::new(vec![0; Sim::storage_len(size)], size).expect("sim")
}

/// `embedded-storage-async` view of a shared simulator (for sequential-storage).
pub struct AsyncFlash<'a>(pub &'a RefCell<Sim>);

impl embedded_storage_async::nor_flash::ErrorType for AsyncFlash<'_> {
    type Error = SimError;
}

impl embedded_storage_async::nor_flash::ReadNorFlash for AsyncFlash<'_> {
    const READ_SIZE: usize = 1;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.0.borrow_mut().read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        PAGE * PAGES
    }
}

impl embedded_storage_async::nor_flash::NorFlash for AsyncFlash<'_> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = PAGE;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.0.borrow_mut().erase(from, to)
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.0.borrow_mut().write(offset, bytes)
    }
}

/// sequential-storage's `remove_item` needs a part that may AND-rewrite a
/// word; the simulator is set to [`twinkv_core::Reprogram::And`] for it.
impl embedded_storage_async::nor_flash::MultiwriteNorFlash for AsyncFlash<'_> {}

/// ekv's `Flash` view of a shared simulator.
pub struct EkvFlash<'a>(pub &'a RefCell<Sim>);

impl ekv::flash::Flash for EkvFlash<'_> {
    type Error = SimError;
    fn page_count(&self) -> usize {
        PAGES
    }
    async fn erase(&mut self, page_id: ekv::flash::PageID) -> Result<(), SimError> {
        let p = (page_id.index() * PAGE) as u32;
        self.0.borrow_mut().erase(p, p + PAGE as u32)
    }
    async fn read(
        &mut self,
        page_id: ekv::flash::PageID,
        offset: usize,
        data: &mut [u8],
    ) -> Result<(), SimError> {
        let at = (page_id.index() * PAGE + offset) as u32;
        self.0.borrow_mut().read(at, data)
    }
    async fn write(
        &mut self,
        page_id: ekv::flash::PageID,
        offset: usize,
        data: &[u8],
    ) -> Result<(), SimError> {
        let at = (page_id.index() * PAGE + offset) as u32;
        self.0.borrow_mut().write(at, data)
    }
}
