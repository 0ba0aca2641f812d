//! The names core used before it took `HashMap`'s (and the host store's):
//! deprecated forwards to [`Store::remove`] and [`Store::contains_key`].

use super::*;

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// The old name of [`Store::remove`].
    #[deprecated(note = "renamed to `remove`, as in `HashMap` and the host store")]
    pub async fn delete(&mut self, key: &[u8]) -> Result<bool, R::Error> {
        self.remove(key).await
    }

    /// The old name of [`Store::contains_key`].
    #[deprecated(note = "renamed to `contains_key`, as in `HashMap` and the host store")]
    pub async fn contains(&mut self, key: &[u8]) -> Result<bool, R::Error> {
        self.contains_key(key).await
    }
}
