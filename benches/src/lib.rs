//! Benchmarks of twinkv against its peers (filled in by the benchmarks issue).
