//! Fernet encryption of stored credentials under a keyring: the first key encrypts, every key
//! decrypts, and each ciphertext is stored beside the id of the key that made it.
//!
//! Fernet authenticates a token but has no associated data, so a token copied into another row
//! would decrypt there. Keywarden therefore encrypts an envelope that names the token's owner
//! (format version, user id, key id, field) and refuses a token whose envelope does not match
//! the row it was read from. Tokens written by the seed's Python code hold the bare value and
//! have no key id; they are still read (each key is tried) and become envelopes on rotation.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

const ENVELOPE_PREFIX: &str = "keywarden:v1\n";

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
        "a stored credential is a bare Fernet token without its envelope, which this server \
         refuses (KEYWARDEN_REFUSE_BARE_TOKENS)"
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
}

/// The row a ciphertext belongs to: one user's key, one field of it.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub user_id: i64,
    pub field: Field,
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
    /// Refuse the seed's bare tokens (once a rotation made every row an envelope, a bare token
    /// can only have been written by someone else).
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
        let mut envelope = format!(
            "{ENVELOPE_PREFIX}{}\n{}\n{}\n",
            owner.user_id,
            primary.id,
            owner.field.as_str()
        );
        envelope.push_str(value);
        let token = primary.fernet.encrypt(envelope.as_bytes());
        envelope.zeroize();
        Sealed {
            token,
            key_id: primary.id.clone(),
        }
    }

    /// Decrypts a stored token of `owner`. With a key id, only that key is used and the
    /// envelope must name this owner and key; without one (the seed's bare tokens), each key is
    /// tried and the plaintext must not be an envelope.
    pub fn open(
        &self,
        owner: Owner,
        token: &str,
        key_id: Option<&str>,
    ) -> Result<Secret, VaultError> {
        let Some(key_id) = key_id else {
            if self.refuse_bare_tokens {
                return Err(VaultError::BareTokenRefused);
            }
            let mut plaintext = self
                .keys
                .iter()
                .find_map(|k| k.fernet.decrypt(token).ok())
                .ok_or(VaultError::Undecryptable)?;
            if plaintext.starts_with(ENVELOPE_PREFIX.as_bytes()) {
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
        let expected = format!(
            "{ENVELOPE_PREFIX}{}\n{}\n{}\n",
            owner.user_id,
            key.id,
            owner.field.as_str()
        );
        if !plaintext.starts_with(expected.as_bytes()) {
            plaintext.zeroize();
            return Err(VaultError::WrongOwner);
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

    const ALICE_SECRET: Owner = Owner {
        user_id: 7,
        field: Field::SecretKey,
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
        // Envelopes are read as before.
        let sealed = refusing.seal(ALICE_SECRET, "still readable");
        let opened = refusing.open(ALICE_SECRET, &sealed.token, Some(&sealed.key_id));
        assert_eq!(opened.unwrap().expose(), "still readable");
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
