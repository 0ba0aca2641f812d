//! Input formats and checks of twinkv's fuzz targets.
//!
//! The fuzz targets in `fuzz_targets/` are one line each: they decode an input
//! with `arbitrary` and call a `check` here. Keeping the checks in a library
//! lets the seed generator (`examples/gen_corpus.rs`) build inputs with the
//! same code, and `tests/corpus.rs` replay the committed corpus (and any
//! crash artifacts) on stable, without libFuzzer.
//!
//! - [`record`]: `record_roundtrip`, the record, region header and marker
//!   codecs.
//! - [`image`]: `open_image`, opening arbitrary region images.
//! - [`checkpoint`]: `open_checkpoint`, opening them with an arbitrary
//!   index checkpoint, and with one the store wrote.
//! - [`script`]: operation scripts and the acknowledged-writes model, for
//!   targets that drive an open store.
//! - [`ops`]: `ops` and `ops_with_power_loss`, scripts on a fresh store
//!   checked against an exact model, without and with power cuts.
//! - [`power`]: one power supply shared by both regions (cuts for
//!   `ops_with_power_loss`): core's test kit, `twinkv_core::testkit::power`,
//!   the same model as core's power-cut tests.

pub mod checkpoint;
pub mod image;
pub mod ops;
pub use twinkv_core::testkit::power;
pub mod record;
pub mod script;

/// Index capacity of every fuzzed store.
pub const INDEX: usize = 256;

/// Raw bytes. As the last field of an input, `arbitrary` gives it all the
/// remaining input bytes unchanged (a plain `Vec<u8>` would read a
/// continuation byte before each element, which makes seeds hard to write).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl<'a> arbitrary::Arbitrary<'a> for Bytes {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Bytes(<&[u8]>::arbitrary(u)?.to_vec()))
    }

    fn arbitrary_take_rest(u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Bytes(u.take_rest().to_vec()))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (0, None)
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}
