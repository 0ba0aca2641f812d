//! Typed values through postcard (feature `serde`): [`Store::get_as`] and
//! [`Store::set_as`].

use super::Store;
use crate::error::{Error, Result};

impl Store {
    /// The value of `key` decoded from postcard (feature `serde`).
    ///
    /// postcard is compact (varints, no field names) and `no_std`, so a
    /// device running `twinkv-core` decodes the same bytes with its
    /// `Store::get_as` (feature `serde`, no allocator), and what its
    /// `Store::set_as` stores reads back here.
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<T>> {
        match self.get(key)? {
            Some(v) => postcard::from_bytes(v)
                .map(Some)
                .map_err(|e| Error::Encoding(e.to_string())),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value` encoded with postcard (feature `serde`).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn set_as<T: serde::Serialize + ?Sized>(
        &mut self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<()> {
        let bytes = postcard::to_allocvec(value).map_err(|e| Error::Encoding(e.to_string()))?;
        self.set(key, bytes)
    }
}
