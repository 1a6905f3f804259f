//! Fernet encryption of stored credentials under a keyring: the first key encrypts, every key
//! decrypts, and each ciphertext is stored beside the id of the key that made it.
//!
//! Fernet authenticates a token but has no associated data, so a token copied into another row
//! would decrypt there. Keywarden therefore encrypts an envelope that names the token's owner
//! (format, user id, key id, field and, for a key pair, the row's version) and refuses a token
//! whose envelope does not match the row it was read from. A key pair's row takes a fresh random
//! version at every write, so an older pair written back over a newer one (or into a row added
//! after a delete) no longer matches. Tokens written by the seed's Python code hold the bare
//! value and have no key id; they are still read (each key is tried) and become versioned
//! envelopes on rotation.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Every envelope starts so; the seed's bare values never do.
const ENVELOPE_MARK: &[u8] = b"keywarden:v";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no Fernet key configured")]
    NoKeys,
    #[error("Fernet key number {position} is not 32 bytes of URL-safe base64")]
    InvalidKey { position: usize },
    #[error("Fernet key number {position} repeats an earlier key")]
    DuplicateKey { position: usize },
    #[error(
        "a stored credential was made with Fernet key id {0}, which is not configured; add that \
         key to FERNET_KEYS"
    )]
    UnknownKeyId(String),
    #[error("a stored credential could not be decrypted with the configured Fernet keys")]
    Undecryptable,
    #[error(
        "a stored credential belongs to another row (its envelope names a different user, field \
         or key id): refused"
    )]
    WrongOwner,
    #[error(
        "a stored credential was sealed for another version of its row (an older pair written \
         back over a newer one): refused"
    )]
    StaleVersion,
    #[error(
        "a stored credential predates rotation (a bare Fernet token, or a key pair without a \
         row version), which this server refuses (KEYWARDEN_REFUSE_BARE_TOKENS)"
    )]
    BareTokenRefused,
}

/// Which half of a key pair a ciphertext holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    ApiKey,
    SecretKey,
    /// A webhook's signing secret.
    WebhookSecret,
    /// An account's TOTP secret.
    TotpSecret,
}

impl Field {
    fn as_str(self) -> &'static str {
        match self {
            Field::ApiKey => "api_key",
            Field::SecretKey => "secret_key",
            Field::WebhookSecret => "webhook_secret",
            Field::TotpSecret => "totp_secret",
        }
    }

    /// Whether its row carries a version (a key pair's halves do).
    fn has_row_version(self) -> bool {
        matches!(self, Field::ApiKey | Field::SecretKey)
    }
}

/// The row a ciphertext belongs to: one user's key, one field of it, and the row's version
/// (0 for a row written before versions, and for secrets whose rows have none).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub user_id: i64,
    pub field: Field,
    pub version: i64,
}

impl Owner {
    /// A secret whose row has no version (webhook and TOTP secrets).
    pub fn unversioned(user_id: i64, field: Field) -> Self {
        Owner {
            user_id,
            field,
            version: 0,
        }
    }

    /// The envelope's header for a token made with key `key_id`; the value follows it.
    fn header(&self, key_id: &str) -> String {
        match self.version {
            0 => format!(
                "keywarden:v1\n{}\n{key_id}\n{}\n",
                self.user_id,
                self.field.as_str()
            ),
            version => format!("{}{version}\n", self.versioned_prefix(key_id)),
        }
    }

    fn versioned_prefix(&self, key_id: &str) -> String {
        format!(
            "keywarden:v2\n{}\n{key_id}\n{}\n",
            self.user_id,
            self.field.as_str()
        )
    }

    /// Whether `plaintext` is this owner's envelope, but for another version of the row.
    fn is_other_version(&self, plaintext: &[u8], key_id: &str) -> bool {
        let unversioned = Owner {
            version: 0,
            ..*self
        };
        plaintext.starts_with(unversioned.header(key_id).as_bytes())
            || plaintext.starts_with(self.versioned_prefix(key_id).as_bytes())
    }
}

/// A fresh version for a key pair's row: random, so never one the row (or a row the user had
/// before) held; never 0.
pub fn new_row_version() -> i64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    (u64::from_le_bytes(bytes) >> 1).max(1) as i64
}

/// A ciphertext and the id of the key that made it, as they are stored.
#[derive(Debug)]
pub struct Sealed {
    pub token: String,
    pub key_id: String,
}

struct VaultKey {
    id: String,
    fernet: fernet::Fernet,
}

pub struct Vault {
    /// The first key encrypts.
    keys: Vec<VaultKey>,
    /// Refuse the seed's bare tokens and key pairs without a row version (once a rotation made
    /// every row a versioned envelope, such a token can only have been written by someone else).
    refuse_bare_tokens: bool,
}

/// A short public name for a key: the first 8 bytes of a domain-separated SHA-256 of it.
fn key_id(key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"keywarden fernet key id\0")
        .chain_update(key.as_bytes())
        .finalize();
    hex::encode(&digest[..8])
}

impl Vault {
    /// A keyring from Fernet keys, the encrypting one first.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<Self, VaultError> {
        let mut ring: Vec<VaultKey> = Vec::new();
        for (index, key) in keys.into_iter().enumerate() {
            let key = key.trim();
            let position = index + 1;
            let fernet = fernet::Fernet::new(key).ok_or(VaultError::InvalidKey { position })?;
            let id = key_id(key);
            if ring.iter().any(|k| k.id == id) {
                return Err(VaultError::DuplicateKey { position });
            }
            ring.push(VaultKey { id, fernet });
        }
        if ring.is_empty() {
            return Err(VaultError::NoKeys);
        }
        Ok(Self {
            keys: ring,
            refuse_bare_tokens: false,
        })
    }

    /// This keyring, refusing the seed's bare tokens.
    pub fn refusing_bare_tokens(self, refuse: bool) -> Self {
        Self {
            refuse_bare_tokens: refuse,
            ..self
        }
    }

    pub fn generate_key() -> String {
        fernet::Fernet::generate_key()
    }

    /// The id of the key new ciphertexts are made with.
    pub fn primary_key_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Encrypts `value` for `owner` under the primary key.
    pub fn seal(&self, owner: Owner, value: &str) -> Sealed {
        let primary = &self.keys[0];
        let mut envelope = owner.header(&primary.id);
        envelope.push_str(value);
        let token = primary.fernet.encrypt(envelope.as_bytes());
        envelope.zeroize();
        Sealed {
            token,
            key_id: primary.id.clone(),
        }
    }

    /// Decrypts a stored token of `owner`. With a key id, only that key is used and the
    /// envelope must name this owner (row version included) and key; without one (the seed's
    /// bare tokens, only in a row without a version), each key is tried and the plaintext must
    /// not be an envelope.
    pub fn open(
        &self,
        owner: Owner,
        token: &str,
        key_id: Option<&str>,
    ) -> Result<Secret, VaultError> {
        // A bare token, or a key pair sealed before row versions.
        let predates_rotation =
            key_id.is_none() || (owner.version == 0 && owner.field.has_row_version());
        if predates_rotation && self.refuse_bare_tokens {
            return Err(VaultError::BareTokenRefused);
        }
        let Some(key_id) = key_id else {
            if owner.version != 0 {
                return Err(VaultError::StaleVersion);
            }
            let mut plaintext = self
                .keys
                .iter()
                .find_map(|k| k.fernet.decrypt(token).ok())
                .ok_or(VaultError::Undecryptable)?;
            if plaintext.starts_with(ENVELOPE_MARK) {
                // An envelope whose key id was removed from its row.
                plaintext.zeroize();
                return Err(VaultError::WrongOwner);
            }
            return Secret::from_bytes(plaintext);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| VaultError::UnknownKeyId(key_id.to_owned()))?;
        let mut plaintext = key
            .fernet
            .decrypt(token)
            .map_err(|_| VaultError::Undecryptable)?;
        let expected = owner.header(&key.id);
        if !plaintext.starts_with(expected.as_bytes()) {
            let stale = owner.is_other_version(&plaintext, &key.id);
            plaintext.zeroize();
            return Err(if stale {
                VaultError::StaleVersion
            } else {
                VaultError::WrongOwner
            });
        }
        let value = plaintext.split_off(expected.len());
        plaintext.zeroize();
        Secret::from_bytes(value)
    }
}

/// A decrypted credential. Prints as `[redacted]`, is wiped from memory when dropped; use
/// `expose` for the one call that needs it.
pub struct Secret(String);

impl Secret {
    fn from_bytes(bytes: Vec<u8>) -> Result<Self, VaultError> {
        String::from_utf8(bytes).map(Secret).map_err(|e| {
            e.into_bytes().zeroize();
            VaultError::Undecryptable
        })
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// A key pair's half in a row written before row versions.
    const ALICE_SECRET: Owner = Owner {
        user_id: 7,
        field: Field::SecretKey,
        version: 0,
    };

    /// The Fernet spec's acceptance vectors (github.com/fernet/spec), kept in app/testdata.
    fn vectors(name: &str) -> Vec<Value> {
        let text = match name {
            "generate" => include_str!("../testdata/fernet/generate.json"),
            "verify" => include_str!("../testdata/fernet/verify.json"),
            _ => include_str!("../testdata/fernet/invalid.json"),
        };
        serde_json::from_str(text).unwrap()
    }

    fn unix_seconds(rfc3339: &Value) -> u64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap())
            .unwrap()
            .timestamp() as u64
    }

    fn vault(keys: &[&str]) -> Vault {
        Vault::new(keys.iter().copied()).unwrap()
    }

    #[test]
    fn spec_verify_vectors_decrypt_as_bare_tokens() {
        for case in vectors("verify") {
            let secret = case["secret"].as_str().unwrap();
            let token = case["token"].as_str().unwrap();
            let opened = vault(&[secret]).open(ALICE_SECRET, token, None).unwrap();
            assert_eq!(opened.expose(), case["src"].as_str().unwrap());
            let fernet = fernet::Fernet::new(secret).unwrap();
            let at_time = fernet
                .decrypt_at_time(token, case["ttl_sec"].as_u64(), unix_seconds(&case["now"]))
                .unwrap();
            assert_eq!(at_time, case["src"].as_str().unwrap().as_bytes());
        }
    }

    #[test]
    fn bare_tokens_can_be_refused() {
        let case = &vectors("verify")[0];
        let secret = case["secret"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let refusing = vault(&[secret]).refusing_bare_tokens(true);
        assert!(matches!(
            refusing.open(ALICE_SECRET, token, None),
            Err(VaultError::BareTokenRefused)
        ));
        // So are key pairs without a row version; versioned envelopes are read as before, and
        // so are the secrets whose rows have no version.
        let unversioned = refusing.seal(ALICE_SECRET, "legacy pair");
        assert!(matches!(
            refusing.open(ALICE_SECRET, &unversioned.token, Some(&unversioned.key_id)),
            Err(VaultError::BareTokenRefused)
        ));
        let versioned = Owner {
            version: new_row_version(),
            ..ALICE_SECRET
        };
        let webhook = Owner::unversioned(7, Field::WebhookSecret);
        for owner in [versioned, webhook] {
            let sealed = refusing.seal(owner, "still readable");
            let opened = refusing.open(owner, &sealed.token, Some(&sealed.key_id));
            assert_eq!(opened.unwrap().expose(), "still readable");
        }
    }

    #[test]
    fn a_pair_sealed_for_another_version_of_its_row_is_refused() {
        let key = Vault::generate_key();
        let vault = vault(&[&key]);
        let (older, newer) = (new_row_version(), new_row_version());
        assert!(older > 0 && newer > 0 && older != newer);
        let at = |version| Owner {
            version,
            ..ALICE_SECRET
        };
        let sealed = vault.seal(at(older), "older pair");
        let opened = vault.open(at(older), &sealed.token, Some(&sealed.key_id));
        assert_eq!(opened.unwrap().expose(), "older pair");
        // Written back into the row after it moved on, or into a row of another version.
        for (row, token) in [
            (at(newer), &sealed.token),
            (at(0), &sealed.token),
            (at(newer), &vault.seal(at(0), "unversioned pair").token),
        ] {
            assert!(matches!(
                vault.open(row, token, Some(&sealed.key_id)),
                Err(VaultError::StaleVersion)
            ));
        }
        // A bare token cannot stand in a versioned row.
        let bare = fernet::Fernet::new(&key).unwrap().encrypt(b"seed-value");
        assert_eq!(
            vault.open(at(0), &bare, None).unwrap().expose(),
            "seed-value"
        );
        assert!(matches!(
            vault.open(at(older), &bare, None),
            Err(VaultError::StaleVersion)
        ));
        // Another user's envelope of the same version is still another owner's.
        let bob = Owner {
            user_id: 8,
            ..at(older)
        };
        assert!(matches!(
            vault.open(bob, &sealed.token, Some(&sealed.key_id)),
            Err(VaultError::WrongOwner)
        ));
    }

    #[test]
    fn spec_invalid_vectors_are_refused() {
        for case in vectors("invalid") {
            let secret = case["secret"].as_str().unwrap();
            let token = case["token"].as_str().unwrap();
            let fernet = fernet::Fernet::new(secret).unwrap();
            let refused =
                fernet.decrypt_at_time(token, case["ttl_sec"].as_u64(), unix_seconds(&case["now"]));
            assert!(refused.is_err(), "{}", case["desc"]);
        }
    }

    #[test]
    fn spec_generate_vectors_match_in_header_and_content() {
        // The crate draws its own IV, so the exact bytes cannot be reproduced; the version,
        // timestamp and length must match and the vector's own token must open to `src`.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE;
        for case in vectors("generate") {
            let secret = case["secret"].as_str().unwrap();
            let src = case["src"].as_str().unwrap();
            let now = unix_seconds(&case["now"]);
            let ours = fernet::Fernet::new(secret)
                .unwrap()
                .encrypt_at_time(src.as_bytes(), now);
            let ours = b64.decode(ours).unwrap();
            let theirs = b64.decode(case["token"].as_str().unwrap()).unwrap();
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(ours[..9], theirs[..9], "version byte and timestamp");
            let iv: Vec<u8> = case["iv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect();
            assert_eq!(theirs[9..25], iv[..]);
            let opened = vault(&[secret])
                .open(ALICE_SECRET, case["token"].as_str().unwrap(), None)
                .unwrap();
            assert_eq!(opened.expose(), src);
        }
    }

    #[test]
    fn sealed_values_open_only_for_their_owner_and_never_print() {
        let vault = vault(&[&Vault::generate_key()]);
        let sealed = vault.seal(ALICE_SECRET, "s3cr3t-value");
        assert_eq!(sealed.key_id, vault.primary_key_id());
        assert!(!sealed.token.contains("s3cr3t"));
        let secret = vault
            .open(ALICE_SECRET, &sealed.token, Some(&sealed.key_id))
            .unwrap();
        assert_eq!(secret.expose(), "s3cr3t-value");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");

        let bob = Owner {
            user_id: 8,
            ..ALICE_SECRET
        };
        let other_field = Owner {
            field: Field::ApiKey,
            ..ALICE_SECRET
        };
        for wrong in [bob, other_field] {
            assert!(matches!(
                vault.open(wrong, &sealed.token, Some(&sealed.key_id)),
                Err(VaultError::WrongOwner)
            ));
        }
        // An envelope whose key id column was cleared is not read as a bare token.
        assert!(matches!(
            vault.open(ALICE_SECRET, &sealed.token, None),
            Err(VaultError::WrongOwner)
        ));
    }

    #[test]
    fn a_keyring_encrypts_with_its_first_key_and_reads_with_all() {
        let (a, b) = (Vault::generate_key(), Vault::generate_key());
        let old = vault(&[&a]);
        let sealed_under_a = old.seal(ALICE_SECRET, "pair-half");
        let bare_under_a = fernet::Fernet::new(&a).unwrap().encrypt(b"seed-value");

        let rotated = vault(&[&b, &a]);
        assert_ne!(rotated.primary_key_id(), old.primary_key_id());
        let sealed_under_b = rotated.seal(ALICE_SECRET, "pair-half");
        assert_eq!(sealed_under_b.key_id, rotated.primary_key_id());
        for sealed in [&sealed_under_a, &sealed_under_b] {
            let opened = rotated
                .open(ALICE_SECRET, &sealed.token, Some(&sealed.key_id))
                .unwrap();
            assert_eq!(opened.expose(), "pair-half");
        }
        let seed = rotated.open(ALICE_SECRET, &bare_under_a, None).unwrap();
        assert_eq!(seed.expose(), "seed-value");

        let only_b = vault(&[&b]);
        assert!(matches!(
            only_b.open(ALICE_SECRET, &sealed_under_a.token, Some(&sealed_under_a.key_id)),
            Err(VaultError::UnknownKeyId(id)) if id == sealed_under_a.key_id
        ));
        assert!(matches!(
            only_b.open(ALICE_SECRET, &bare_under_a, None),
            Err(VaultError::Undecryptable)
        ));
        // The key id column must name the key that made the token.
        assert!(matches!(
            rotated.open(
                ALICE_SECRET,
                &sealed_under_a.token,
                Some(&sealed_under_b.key_id)
            ),
            Err(VaultError::Undecryptable)
        ));
    }

    #[test]
    fn bad_keyrings_are_refused() {
        let key = Vault::generate_key();
        assert!(matches!(Vault::new([]), Err(VaultError::NoKeys)));
        assert!(matches!(
            Vault::new([key.as_str(), "short"]),
            Err(VaultError::InvalidKey { position: 2 })
        ));
        assert!(matches!(
            Vault::new([key.as_str(), key.as_str()]),
            Err(VaultError::DuplicateKey { position: 2 })
        ));
    }
}
