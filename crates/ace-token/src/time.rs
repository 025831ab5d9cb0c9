//! Time values: [`UnixTime`] (what callers pass in as `now`) and [`NumericDate`] (what a token
//! carries).

use core::fmt;

/// Seconds since the Unix epoch (1970-01-01T00:00:00Z, leap seconds ignored), as RFC 7519's
/// NumericDate counts them. The workspace's one type for claim time: engines take it as `now`
/// and never read a clock themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The epoch.
    pub const EPOCH: Self = Self(0);

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// `self + secs`, saturating at `u64::MAX`.
    #[must_use]
    pub const fn saturating_add(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// `self - secs`, saturating at the epoch.
    #[must_use]
    pub const fn saturating_sub(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }

    /// The current time from the system clock (feature `std`; for shells, tests and examples:
    /// library code takes `now` as an argument).
    #[cfg(feature = "std")]
    #[must_use]
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self(secs)
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A NumericDate claim value (RFC 8392 §2: integer or floating-point seconds, untagged).
///
/// Kept as received so a re-encoded claims set is byte-identical (RFC 8392 Appendix A.7 has a
/// fractional `iat`). Non-finite floats are rejected when decoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumericDate {
    /// Whole seconds (may be negative: before the epoch).
    Seconds(i64),
    /// Fractional seconds (finite).
    Fractional(f64),
}

impl NumericDate {
    /// The smallest whole second not earlier than this date, as a signed count.
    ///
    /// Comparisons against whole-second `now` use this: `now < exp ⇔ now < ceil(exp)` and
    /// `now ≥ nbf ⇔ now ≥ ceil(nbf)`.
    #[must_use]
    pub fn ceil_secs(self) -> i128 {
        match self {
            Self::Seconds(s) => i128::from(s),
            Self::Fractional(f) => {
                // `as` saturates for out-of-range floats; NaN is excluded at decode time (and
                // maps to 0 here).
                #[allow(clippy::cast_possible_truncation)]
                let t = f as i64;
                #[allow(clippy::cast_precision_loss)]
                let bump = (t as f64) < f;
                i128::from(t) + i128::from(bump)
            }
        }
    }

    /// `true` when `now` is at or after this date.
    #[must_use]
    pub fn is_reached_by(self, now: UnixTime) -> bool {
        i128::from(now.0) >= self.ceil_secs()
    }
}

impl From<UnixTime> for NumericDate {
    fn from(t: UnixTime) -> Self {
        Self::Seconds(i64::try_from(t.0).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_of_fractional_dates() {
        assert_eq!(NumericDate::Fractional(100.5).ceil_secs(), 101);
        assert_eq!(NumericDate::Fractional(100.0).ceil_secs(), 100);
        assert_eq!(NumericDate::Fractional(-0.5).ceil_secs(), 0);
        assert_eq!(NumericDate::Fractional(-1.5).ceil_secs(), -1);
        assert_eq!(NumericDate::Seconds(-3).ceil_secs(), -3);
        assert!(NumericDate::Fractional(1e300).ceil_secs() > i128::from(u64::MAX) / 2);
    }

    #[test]
    fn reached() {
        let d = NumericDate::Fractional(100.5);
        assert!(!d.is_reached_by(UnixTime(100)));
        assert!(d.is_reached_by(UnixTime(101)));
        assert!(NumericDate::Seconds(-1).is_reached_by(UnixTime(0)));
    }
}
