//! A small, panic-free reader of BER/DER elements (tag, length, content),
//! as OpenSSL accepts them in certificates: definite lengths in short or long
//! form, high tag numbers. Shared by the DN formatters ([`super::dn`]) and
//! the verification rules that read certificates byte by byte
//! (`crate::verify`), so there is one reader to fuzz and trust.

/// Why an element could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// The input ends in the middle of an element.
    #[error("truncated DER")]
    Truncated,
    /// Indefinite length, or a length or tag that does not fit.
    #[error("unsupported DER length or tag encoding")]
    BadEncoding,
}

/// One BER/DER element.
#[derive(Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// 0 universal, 1 application, 2 context-specific, 3 private.
    pub(crate) class: u8,
    pub(crate) constructed: bool,
    pub(crate) tag: u32,
    /// Identifier octets.
    pub(crate) ident: &'a [u8],
    pub(crate) content: &'a [u8],
    /// The whole element as it appeared.
    pub(crate) raw: &'a [u8],
}

impl Tlv<'_> {
    pub(crate) fn is_universal(&self, tag: u32, constructed: bool) -> bool {
        self.class == 0 && self.tag == tag && self.constructed == constructed
    }
}

/// Reads one element with a definite length (short or long form, minimal or
/// not, as OpenSSL accepts); returns it and what follows.
pub(crate) fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&first, mut rest) = input.split_first().ok_or(DerError::Truncated)?;
    let class = first >> 6;
    let constructed = first & 0x20 != 0;
    let mut tag = u32::from(first & 0x1F);
    let mut ident_len = 1_usize;
    if tag == 0x1F {
        // High tag number form: base-128 digits, at most 4 of them.
        tag = 0;
        loop {
            let (&b, r) = rest.split_first().ok_or(DerError::Truncated)?;
            rest = r;
            ident_len += 1;
            if ident_len > 5 {
                return Err(DerError::BadEncoding);
            }
            tag = (tag << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&len0, mut rest) = rest.split_first().ok_or(DerError::Truncated)?;
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else if len0 == 0x80 {
        // Indefinite length: not DER, not supported.
        return Err(DerError::BadEncoding);
    } else {
        let n = usize::from(len0 & 0x7F);
        let (len_bytes, r) = rest.split_at_checked(n).ok_or(DerError::Truncated)?;
        rest = r;
        let mut len: usize = 0;
        for &b in len_bytes {
            len = len
                .checked_mul(256)
                .and_then(|l| l.checked_add(usize::from(b)))
                .ok_or(DerError::BadEncoding)?;
        }
        len
    };
    let header_len = input.len() - rest.len();
    let (content, after) = rest.split_at_checked(len).ok_or(DerError::Truncated)?;
    let raw = input.get(..header_len + len).ok_or(DerError::Truncated)?;
    let ident = input.get(..ident_len).ok_or(DerError::Truncated)?;
    Ok((
        Tlv {
            class,
            constructed,
            tag,
            ident,
            content,
            raw,
        },
        after,
    ))
}

/// Iterates the elements inside a constructed content; stops after an error.
pub(crate) struct Children<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Children<'a> {
    pub(crate) fn new(content: &'a [u8]) -> Children<'a> {
        Children {
            rest: content,
            failed: false,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, DerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match read_tlv(self.rest) {
            Ok((tlv, after)) => {
                self.rest = after;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
