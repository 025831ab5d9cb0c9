//! Operating-system randomness (feature `std`).
//!
//! Library code takes a `&mut impl CryptoRng` argument instead; this is for binaries, tests and
//! examples that need one to pass in.

/// The OS random source as an infallible `CryptoRng`.
pub type OsRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The OS random source (`getrandom`). It panics only if the OS fails to provide randomness,
/// which `getrandom` reports as unrecoverable.
#[must_use]
pub fn os_rng() -> OsRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}
