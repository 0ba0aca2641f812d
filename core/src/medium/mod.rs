//! Where bytes live: the [`Region`](region::Region) trait with its geometry
//! and power-loss contract, the embedded-storage adapter (`flash`, with the
//! cells its shared regions borrow the flash from in `share`), and the
//! two test doubles — `RamRegion` (`ram`) and the NOR simulator `SimFlash`
//! (`sim`) — which share one PRNG and one tear model (`fault`).

#[cfg(feature = "async")]
pub(crate) mod asynch;
pub(crate) mod fault;
#[cfg(feature = "embedded-storage")]
pub(crate) mod flash;
pub(crate) mod ram;
pub(crate) mod region;
#[cfg(feature = "embedded-storage")]
pub(crate) mod share;
#[cfg(feature = "flash-sim")]
pub(crate) mod sim;
