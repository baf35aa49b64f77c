//! nginx-style sizes: `"1m"`, `"16k"`, `"512"` (bytes), or a bare number.

use super::raw::RawSize;

/// Parses a size as nginx's `ngx_parse_size` would (`k`, `m`, `g`, any case).
///
/// # Errors
/// A message naming what is wrong with the text.
pub fn parse(raw: &RawSize) -> Result<u64, String> {
    match raw {
        RawSize::Bytes(n) => {
            u64::try_from(*n).map_err(|_| format!("{n} is negative; a size must be 0 or more"))
        }
        RawSize::Text(text) => {
            let t = text.trim();
            let (digits, unit) =
                t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
            let n: u64 = digits.parse().map_err(|_| {
                format!("invalid size {text:?}: write e.g. \"1m\", \"16k\" or \"512\"")
            })?;
            let factor: u64 = match unit {
                "" => 1,
                "k" | "K" => 1 << 10,
                "m" | "M" => 1 << 20,
                "g" | "G" => 1 << 30,
                other => {
                    return Err(format!(
                        "invalid size {text:?}: unknown unit {other:?} (use k, m or g)"
                    ));
                }
            };
            n.checked_mul(factor)
                .ok_or_else(|| format!("invalid size {text:?}: too large"))
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
