//! nginx-style durations: `"500ms"`, `"30s"`, `"10m"`, `"1h30m"`, `"1d"`, or a
//! bare number of seconds (`60`).

use std::time::Duration;

use super::raw::RawDuration;

/// Parses a duration as nginx's `ngx_parse_time` would (units `ms s m h d w M y`;
/// a number without a unit is seconds).
///
/// # Errors
/// A message naming what is wrong with the text.
pub fn parse(raw: &RawDuration) -> Result<Duration, String> {
    match raw {
        RawDuration::Seconds(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| format!("{n} is negative; a duration must be 0 or more")),
        RawDuration::Text(text) => parse_text(text),
    }
}

fn parse_text(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"10m\" or \"500ms\"".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?}"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
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
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use ms, s, m, h, d, w, M or y)"
                ));
            }
        };
        let millis = number
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<Duration, String> {
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
        assert!(text("10minutes").unwrap_err().contains("unknown unit"));
        assert!(text("10 minutes").is_err());
        assert!(text("").unwrap_err().contains("empty"));
        assert!(text("m").unwrap_err().contains("expected a number"));
        assert!(
            parse(&RawDuration::Seconds(-1))
                .unwrap_err()
                .contains("negative")
        );
        assert!(text("99999999999999999999s").is_err());
    }
}
