//! Session-ticket keys shared by a fleet (nginx's `ssl_session_ticket_key`).
//!
//! Each key is a file in nginx's format: 80 bytes (16-byte name, 32-byte
//! HMAC-SHA256 secret, 32-byte AES-256 key) or 48 bytes (16-byte name,
//! 16-byte AES-128 key, 16-byte HMAC secret), as nginx's
//! `ngx_ssl_session_ticket_keys` reads them. The first configured key
//! encrypts new tickets; every key decrypts, so a rotation (new key first,
//! the old one second, later dropped) never fails a client. Replicas given
//! the same files resume each other's sessions; a process without the key
//! finds no name that matches and does a full handshake.
//!
//! Tickets are RFC 5077's recommended construction, as rustls's own
//! ticketer makes them: `name(16) ‖ IV(16) ‖ AES-CBC(state) ‖ HMAC(32)`, the
//! HMAC-SHA256 over name, IV, the state's length and the state. A ticket
//! is entirely the client's to choose: it is authenticated (constant-time
//! compare) before a byte of it is decrypted, and every length is checked,
//! so a hostile ticket only ever yields `None` (a full handshake).
//!
//! Resuming restores the session's client chain, which is verified again
//! for the new connection against the CA bundle and CRLs loaded now
//! ([`crate::verify`]): a shared key never carries an old verdict over.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_lc_rs::cipher::{
    AES_128, AES_256, AES_CBC_IV_LEN, DecryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::{hmac, iv};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rustls::server::ProducesTickets;

use crate::metrics::TicketKeyLabels;

/// nginx's key file with AES-256 (`openssl rand 80`).
pub const KEY_FILE_LEN: usize = 80;
/// nginx's older key file with AES-128 (`openssl rand 48`).
pub const KEY_FILE_LEN_AES128: usize = 48;
/// The key name's length: the first bytes of every ticket.
const NAME_LEN: usize = 16;
/// HMAC-SHA256's tag.
const TAG_LEN: usize = 32;
/// The longest ticket looked at. A TLS ticket's length field is 16 bits,
/// and the HMAC covers the state's length as 16 bits: anything longer is
/// not a ticket this code made.
const MAX_TICKET_LEN: usize = 65_535;

/// The process-wide `tls_resumptions` family: ticketers count into it
/// from inside rustls, where no handle to [`crate::metrics::Metrics`]
/// reaches; `Metrics::new` registers this same family (clones share it).
pub fn resumptions() -> &'static Family<TicketKeyLabels, Counter> {
    static FAMILY: OnceLock<Family<TicketKeyLabels, Counter>> = OnceLock::new();
    FAMILY.get_or_init(Family::default)
}

/// One `session_ticket_key` file, read and checked.
#[derive(Clone)]
pub struct TicketKey {
    pub path: PathBuf,
    name: [u8; NAME_LEN],
    hmac: Vec<u8>,
    aes: Vec<u8>,
}

impl fmt::Debug for TicketKey {
    // Never prints key material (the name is public: it is in every ticket).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKey")
            .field("path", &self.path)
            .field("name", &self.name_label())
            .field("aes_bits", &(self.aes.len() * 8))
            .finish_non_exhaustive()
    }
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: {len} bytes; a ticket key file has 80 bytes (or 48, nginx's AES-128 format): make one with `openssl rand 80 > {}`",
        .path.display(), .path.display()
    )]
    Length { path: PathBuf, len: usize },
}

impl TicketKey {
    /// Reads a key file in nginx's format.
    ///
    /// # Errors
    /// The file cannot be read or is not 80 or 48 bytes long.
    pub fn read(path: &Path) -> Result<TicketKey, TicketKeyError> {
        let bytes = std::fs::read(path).map_err(|source| TicketKeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TicketKey::from_bytes(path, &bytes).ok_or(TicketKeyError::Length {
            path: path.to_path_buf(),
            len: bytes.len(),
        })
    }

    /// A key from a file's bytes; `None` unless 80 or 48 bytes.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Option<TicketKey> {
        let (name, rest) = bytes.split_first_chunk::<NAME_LEN>()?;
        let (hmac, aes) = match bytes.len() {
            // ngx_ssl_session_ticket_keys: name, HMAC secret, AES key.
            KEY_FILE_LEN => (&rest[..32], &rest[32..]),
            // The 48-byte layout puts the AES key before the HMAC secret.
            KEY_FILE_LEN_AES128 => (&rest[16..], &rest[..16]),
            _ => return None,
        };
        Some(TicketKey {
            path: path.to_path_buf(),
            name: *name,
            hmac: hmac.to_vec(),
            aes: aes.to_vec(),
        })
    }

    /// The `key` label: the first 8 hex digits of the name.
    pub fn name_label(&self) -> String {
        self.name[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `other` has the same name (tickets could not tell them apart).
    pub fn same_name(&self, other: &TicketKey) -> bool {
        self.name == other.name
    }
}

/// One key ready to use.
struct LiveKey {
    name: [u8; NAME_LEN],
    encrypt: PaddedBlockEncryptingKey,
    decrypt: PaddedBlockDecryptingKey,
    hmac: hmac::Key,
    resumptions: Counter,
}

/// The configured keys as rustls's ticket producer: the first encrypts,
/// all decrypt.
pub struct FileTicketer {
    keys: Vec<LiveKey>,
}

impl fmt::Debug for FileTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTicketer")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// The cipher library refused a key (not expected for 16/32-byte keys).
#[derive(Debug, thiserror::Error)]
#[error("{}: the cipher library refused the key", .0.display())]
pub struct TicketerError(pub PathBuf);

impl FileTicketer {
    /// A ticketer for `keys` (at least one; the first encrypts).
    ///
    /// # Errors
    /// A key the cipher library refuses.
    pub fn new(keys: &[TicketKey]) -> Result<FileTicketer, TicketerError> {
        let mut live = Vec::with_capacity(keys.len());
        for key in keys {
            let refused = |_| TicketerError(key.path.clone());
            let algorithm = if key.aes.len() == 32 {
                &AES_256
            } else {
                &AES_128
            };
            let encrypt = PaddedBlockEncryptingKey::cbc_pkcs7(
                UnboundCipherKey::new(algorithm, &key.aes).map_err(refused)?,
            )
            .map_err(refused)?;
            let decrypt = PaddedBlockDecryptingKey::cbc_pkcs7(
                UnboundCipherKey::new(algorithm, &key.aes).map_err(refused)?,
            )
            .map_err(refused)?;
            live.push(LiveKey {
                name: key.name,
                encrypt,
                decrypt,
                hmac: hmac::Key::new(hmac::HMAC_SHA256, &key.hmac),
                resumptions: resumptions()
                    .get_or_create(&TicketKeyLabels {
                        key: key.name_label(),
                    })
                    .clone(),
            });
        }
        Ok(FileTicketer { keys: live })
    }
}

/// HMAC input: name, IV, the state's length (16 bits) and the state.
fn mac_input(name: &[u8], iv: &[u8], state: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(state.len()).ok()?;
    let mut data = Vec::with_capacity(name.len() + iv.len() + 2 + state.len());
    data.extend_from_slice(name);
    data.extend_from_slice(iv);
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(state);
    Some(data)
}

impl ProducesTickets for FileTicketer {
    fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Overridden by the session timeout ([`crate::tls`] wraps this).
    fn lifetime(&self) -> u32 {
        300
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let key = self.keys.first()?;
        let mut state = plain.to_vec();
        let context = key.encrypt.encrypt(&mut state).ok()?;
        let iv: &[u8] = (&context).try_into().ok()?;
        let tag = hmac::sign(&key.hmac, &mac_input(&key.name, iv, &state)?);
        let mut ticket = Vec::with_capacity(NAME_LEN + iv.len() + state.len() + TAG_LEN);
        ticket.extend_from_slice(&key.name);
        ticket.extend_from_slice(iv);
        ticket.extend_from_slice(&state);
        ticket.extend_from_slice(tag.as_ref());
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() > MAX_TICKET_LEN {
            return None;
        }
        let (name, rest) = ticket.split_first_chunk::<NAME_LEN>()?;
        let (iv, rest) = rest.split_first_chunk::<AES_CBC_IV_LEN>()?;
        let (state, tag) = rest.split_last_chunk::<TAG_LEN>()?;
        // The name is public (it is in every ticket): a plain lookup.
        let key = self.keys.iter().find(|k| &k.name == name)?;
        // Authenticate before decrypting (hmac::verify compares in
        // constant time).
        hmac::verify(&key.hmac, &mac_input(name, iv, state)?, tag).ok()?;
        let context = DecryptionContext::Iv128(iv::FixedLength::from(*iv));
        let mut out = state.to_vec();
        let plain = key.decrypt.decrypt(&mut out, context).ok()?.to_vec();
        key.resumptions.inc();
        Some(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8, len: usize) -> TicketKey {
        let bytes: Vec<u8> = (0..len)
            .map(|i| seed.wrapping_mul(31).wrapping_add(u8::try_from(i).unwrap()))
            .collect();
        TicketKey::from_bytes(Path::new("k"), &bytes).unwrap()
    }

    #[test]
    fn file_layouts_as_nginx_reads_them() {
        let bytes: Vec<u8> = (0..80).collect();
        let k = TicketKey::from_bytes(Path::new("k"), &bytes).unwrap();
        assert_eq!(k.name.to_vec(), (0..16).collect::<Vec<u8>>());
        assert_eq!(k.hmac, (16..48).collect::<Vec<u8>>());
        assert_eq!(k.aes, (48..80).collect::<Vec<u8>>());
        let k = TicketKey::from_bytes(Path::new("k"), &bytes[..48]).unwrap();
        assert_eq!(k.aes, (16..32).collect::<Vec<u8>>());
        assert_eq!(k.hmac, (32..48).collect::<Vec<u8>>());
        assert_eq!(k.name_label(), "00010203");
        for len in [0, 16, 47, 49, 79, 81, 160] {
            assert!(TicketKey::from_bytes(Path::new("k"), &vec![0; len]).is_none());
        }
        assert!(!format!("{k:?}").contains("1011"), "no key bytes in Debug");
    }

    #[test]
    fn first_encrypts_all_decrypt_others_refuse() {
        let (current, previous) = (key(1, 80), key(2, 48));
        let old = FileTicketer::new(std::slice::from_ref(&previous)).unwrap();
        let rotated = FileTicketer::new(&[current.clone(), previous.clone()]).unwrap();
        let other = FileTicketer::new(&[key(3, 80)]).unwrap();
        let old_ticket = old.encrypt(b"session state").unwrap();
        assert_eq!(
            rotated.decrypt(&old_ticket),
            Some(b"session state".to_vec())
        );
        let new_ticket = rotated.encrypt(b"newer").unwrap();
        assert_eq!(&new_ticket[..16], &current.name[..]);
        assert_eq!(rotated.decrypt(&new_ticket), Some(b"newer".to_vec()));
        assert_eq!(
            old.decrypt(&new_ticket),
            None,
            "old process lacks the new key"
        );
        assert_eq!(other.decrypt(&old_ticket), None);
    }

    #[test]
    fn tampered_and_hostile_tickets_are_refused() {
        let t = FileTicketer::new(&[key(1, 80)]).unwrap();
        let ticket = t.encrypt(b"state of a session").unwrap();
        for i in 0..ticket.len() {
            let mut bad = ticket.clone();
            bad[i] ^= 0x01;
            assert_eq!(t.decrypt(&bad), None, "bit flipped at {i}");
        }
        for len in 0..ticket.len() {
            assert_eq!(t.decrypt(&ticket[..len]), None, "truncated to {len}");
        }
        let mut long = ticket.clone();
        long.resize(MAX_TICKET_LEN + 1, 0);
        assert_eq!(t.decrypt(&long), None);
        // The right name, garbage after it, of every length up to 200.
        for len in 0..200 {
            let mut bad = ticket[..16].to_vec();
            bad.extend((0..len).map(|i| u8::try_from(i % 251).unwrap()));
            assert_eq!(t.decrypt(&bad), None);
        }
    }
}
