//! Wall-clock time in the one form the gateway compares certificate and
//! CRL dates with: seconds since the Unix epoch.

/// Now, in seconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
