//! nginx-style sizes: `"1m"`, `"16k"`, `"512"` (bytes), or a bare number.

use super::raw::RawSize;

/// What is wrong with a size's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("{0} is negative; a size must be 0 or more")]
    Negative(i64),
    #[error("invalid size {0:?}: write e.g. \"1m\", \"16k\" or \"512\"")]
    NotANumber(String),
    #[error("invalid size {text:?}: unknown unit {unit:?} (use k, m or g)")]
    UnknownUnit { text: String, unit: String },
    #[error("invalid size {0:?}: too large")]
    TooLarge(String),
}

/// Parses a size as nginx's `ngx_parse_size` would (`k`, `m`, `g`, any case).
///
/// # Errors
/// [`SizeError`], naming what is wrong with the text.
pub fn parse(raw: &RawSize) -> Result<u64, SizeError> {
    match raw {
        RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| SizeError::Negative(*n)),
        RawSize::Text(text) => {
            let t = text.trim();
            let (digits, unit) =
                t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
            let n: u64 = digits
                .parse()
                .map_err(|_| SizeError::NotANumber(text.clone()))?;
            let factor: u64 = match unit {
                "" => 1,
                "k" | "K" => 1 << 10,
                "m" | "M" => 1 << 20,
                "g" | "G" => 1 << 30,
                other => {
                    return Err(SizeError::UnknownUnit {
                        text: text.clone(),
                        unit: other.to_string(),
                    });
                }
            };
            n.checked_mul(factor)
                .ok_or_else(|| SizeError::TooLarge(text.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_sizes() {
        assert_eq!(parse(&RawSize::Text("1m".into())).unwrap(), 1 << 20);
        assert_eq!(parse(&RawSize::Text("16K".into())).unwrap(), 16 << 10);
        assert_eq!(parse(&RawSize::Text("512".into())).unwrap(), 512);
        assert_eq!(parse(&RawSize::Bytes(0)).unwrap(), 0);
        assert!(parse(&RawSize::Text("1mb".into())).is_err());
        assert!(parse(&RawSize::Text("".into())).is_err());
        assert!(parse(&RawSize::Bytes(-1)).is_err());
    }
}
