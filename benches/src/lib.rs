//! Criterion benches for the ACE workspace. The benches live in `benches/benches/`; run them
//! with `cargo xtask bench` (all, then prints the ratios) or
//! `cargo bench -p ace-benches --bench <name>`.
//!
//! Convention: every criterion group puts our operation next to its limit (the bare crypto or
//! the bare codec) and names that baseline benchmark [`BASELINE_ID`]. `cargo xtask bench`
//! reads criterion's estimates and prints `ours / bare` for every other benchmark of the group.

#![forbid(unsafe_code)]

/// Benchmark id of the baseline inside a criterion group.
pub const BASELINE_ID: &str = "bare";
