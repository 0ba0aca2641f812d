//! Typed values through postcard (feature `serde`): [`Store::get_as`] and
//! [`Store::set_as`], no allocator. The bytes stored are exactly
//! `postcard::to_slice(value)`, which is what the host store's methods of the
//! same names store (`postcard::to_allocvec`), so a device and a host tool
//! read each other's values.

use super::*;

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// The value of `key` decoded from postcard as a `T`, read into `buf`
    /// first (a `T` may borrow from it: `&str`, `&[u8]`). `Ok(None)` if the
    /// key has no value.
    ///
    /// # Errors
    /// As [`Store::get`] (e.g. [`Error::BufferTooSmall`] naming the stored
    /// length); [`Error::Encoding`] if the stored bytes are not a `T`.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Scratch, Store};
    ///
    /// #[derive(Serialize, Deserialize, Debug, PartialEq)]
    /// struct Calibration { offset: i16, gain: f32 }
    ///
    /// const CONFIG: Config = Config::new(0x5EED).with_limits(16, 64);
    /// let geo = Geometry { size: 2048, read_unit: 1, write_unit: 4, erase_unit: 256 };
    /// let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
    /// let a = RamRegion::new(vec![0u8; len], geo).unwrap();
    /// let b = RamRegion::new(vec![0u8; len], geo).unwrap();
    /// let scratch = Scratch::<{ CONFIG.scratch_len(4) }>::new();
    /// let mut store = Store::open(a, b, FixedIndex::<16>::new(), scratch, CONFIG).unwrap();
    ///
    /// let mut buf = [0u8; 64];
    /// let cal = Calibration { offset: -3, gain: 1.5 };
    /// store.set_as(b"cal", &cal, &mut buf).unwrap();
    /// store.set_as(b"name", "kitchen", &mut buf).unwrap();
    /// assert_eq!(store.get_as::<Calibration>(b"cal", &mut buf).unwrap(), Some(cal));
    /// assert_eq!(store.get_as::<&str>(b"name", &mut buf).unwrap(), Some("kitchen"));
    /// assert_eq!(store.get_as::<u32>(b"none", &mut buf).unwrap(), None);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub async fn get_as<'b, T: serde::Deserialize<'b>>(
        &mut self,
        key: &[u8],
        buf: &'b mut [u8],
    ) -> Result<Option<T>, R::Error> {
        let Some(n) = self.get(key, buf).await? else {
            return Ok(None);
        };
        let bytes: &'b [u8] = buf;
        match postcard::from_bytes(&bytes[..n]) {
            Ok(v) => Ok(Some(v)),
            Err(_) => Err(Error::Encoding),
        }
    }

    /// Sets `key` to `value` encoded with postcard, encoding it into `buf`
    /// first (example on [`Store::get_as`]).
    ///
    /// # Errors
    /// As [`Store::set`] (e.g. [`Error::ValueTooLarge`] when the encoding is
    /// longer than the store's limit); [`Error::BufferTooSmall`] naming the
    /// encoded length when it does not fit `buf` (nothing is written);
    /// [`Error::Encoding`] if postcard cannot encode the value (a sequence of
    /// unknown length).
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub async fn set_as<T: serde::Serialize + ?Sized>(
        &mut self,
        key: &[u8],
        value: &T,
        buf: &mut [u8],
    ) -> Result<(), R::Error> {
        match postcard::to_slice(value, buf) {
            Ok(bytes) => self.set(key, bytes).await,
            Err(postcard::Error::SerializeBufferFull) => {
                match postcard::experimental::serialized_size(value) {
                    Ok(n) => Err(Error::BufferTooSmall(n)),
                    Err(_) => Err(Error::Encoding),
                }
            }
            Err(_) => Err(Error::Encoding),
        }
    }
}
