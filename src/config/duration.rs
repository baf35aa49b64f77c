//! nginx-style durations: `"500ms"`, `"30s"`, `"10m"`, `"1h30m"`, `"1d"`, or a
//! bare number of seconds (`60`).

use std::time::Duration;

use super::raw::RawDuration;

/// What is wrong with a duration's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0} is negative; a duration must be 0 or more")]
    Negative(i64),
    #[error("empty duration; write e.g. \"30s\", \"10m\" or \"500ms\"")]
    Empty,
    #[error("invalid duration {text:?}: expected a number at {rest:?}")]
    NumberExpected { text: String, rest: String },
    #[error("invalid duration {text:?}: unknown unit {unit:?} (use ms, s, m, h, d, w, M or y)")]
    UnknownUnit { text: String, unit: String },
    #[error("invalid duration {0:?}: too large")]
    TooLarge(String),
}

/// Parses a duration as nginx's `ngx_parse_time` would (units `ms s m h d w M y`;
/// a number without a unit is seconds).
///
/// # Errors
/// [`DurationError`], naming what is wrong with the text.
pub fn parse(raw: &RawDuration) -> Result<Duration, DurationError> {
    match raw {
        RawDuration::Seconds(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| DurationError::Negative(*n)),
        RawDuration::Text(text) => parse_text(text),
    }
}

fn parse_text(text: &str) -> Result<Duration, DurationError> {
    let too_large = || DurationError::TooLarge(text.to_string());
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::NumberExpected {
                text: text.to_string(),
                rest: rest.to_string(),
            });
        }
        let number: u64 = rest[..digits].parse().map_err(|_| too_large())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "M" => 30 * 86_400_000,
            "y" => 365 * 86_400_000,
            other => {
                return Err(DurationError::UnknownUnit {
                    text: text.to_string(),
                    unit: other.to_string(),
                });
            }
        };
        let millis = number.checked_mul(millis_per_unit).ok_or_else(too_large)?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(too_large)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<Duration, DurationError> {
        parse(&RawDuration::Text(s.into()))
    }

    #[test]
    fn nginx_units() {
        assert_eq!(text("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(text("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(text("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(text("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(text("75").unwrap(), Duration::from_secs(75));
        assert_eq!(text("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(
            parse(&RawDuration::Seconds(5)).unwrap(),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn bad_durations_are_explained() {
        assert!(
            text("10minutes")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
        assert!(text("10 minutes").is_err());
        assert!(text("").unwrap_err().to_string().contains("empty"));
        assert!(
            text("m")
                .unwrap_err()
                .to_string()
                .contains("expected a number")
        );
        assert!(
            parse(&RawDuration::Seconds(-1))
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(text("99999999999999999999s").is_err());
    }
}
