//! [`Scratch`]: the store's scratch buffer as a type whose length is a
//! const generic, sized from the configuration at compile time.

/// A scratch buffer of `N` bytes that a [`Store`](crate::Store) owns: size it
/// with [`Config::scratch_len`](crate::Config::scratch_len) in a `const`
/// context (on flash, with `flash_scratch_len` of feature
/// `embedded-storage`, which takes the write unit from the flash type), and
/// the length is right by construction; opening with a shorter one is
/// [`Error::BufferTooSmall`](crate::Error::BufferTooSmall) naming the length
/// needed. A borrowed `&mut [u8]` works as well (e.g. a static array lent to
/// the store, so the bytes do not move with it).
///
/// ```
/// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Scratch, Store};
///
/// const CONFIG: Config = Config::new(0x5EED).with_limits(16, 64);
/// const GEO: Geometry = Geometry { size: 2048, read_unit: 1, write_unit: 8, erase_unit: 256 };
/// let len = RamRegion::<Vec<u8>>::storage_len_for(&GEO);
/// let a = RamRegion::new(vec![0u8; len], GEO).unwrap();
/// let b = RamRegion::new(vec![0u8; len], GEO).unwrap();
/// let scratch = Scratch::<{ CONFIG.scratch_len(GEO.write_unit) }>::new();
/// let mut store = Store::open(a, b, FixedIndex::<16>::new(), scratch, CONFIG).unwrap();
/// store.set(b"mode", b"eco").unwrap();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Scratch<const N: usize>([u8; N]);

impl<const N: usize> Scratch<N> {
    /// Its length in bytes.
    pub const LEN: usize = N;

    /// A zeroed buffer (`const`, so it can initialise a `static`).
    pub const fn new() -> Self {
        Scratch([0; N])
    }
}

impl<const N: usize> Default for Scratch<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> AsMut<[u8]> for Scratch<N> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Its length only: the bytes are whatever the store last assembled.
impl<const N: usize> core::fmt::Debug for Scratch<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Scratch<{N}>")
    }
}
