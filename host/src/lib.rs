//! twinkv-host: twinkv on memory-mapped files (grows in the host issue).

pub use twinkv_core as core;
