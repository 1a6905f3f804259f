//! Fernet encryption of stored credentials. Ciphertexts are standard Fernet tokens, so an
//! operator can read them with any Fernet implementation (Python's `cryptography` included).

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the Fernet key is not 32 bytes of URL-safe base64")]
    InvalidKey,
    #[error("a stored value could not be decrypted with the configured Fernet key")]
    Undecryptable,
}

pub struct Vault {
    fernet: fernet::Fernet,
}

impl Vault {
    pub fn new(key: &str) -> Result<Self, VaultError> {
        let fernet = fernet::Fernet::new(key.trim()).ok_or(VaultError::InvalidKey)?;
        Ok(Self { fernet })
    }

    pub fn generate_key() -> String {
        fernet::Fernet::generate_key()
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        self.fernet.encrypt(plaintext.as_bytes())
    }

    pub fn decrypt(&self, token: &str) -> Result<Secret, VaultError> {
        let bytes = self
            .fernet
            .decrypt(token)
            .map_err(|_| VaultError::Undecryptable)?;
        String::from_utf8(bytes).map(Secret).map_err(|e| {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            VaultError::Undecryptable
        })
    }
}

/// A decrypted credential. Prints as `[redacted]`, is wiped from memory when dropped; use
/// `expose` for the one call that needs it.
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
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

    // From the Fernet spec's verify.json (../shared/reference/fernet/).
    const SPEC_KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const SPEC_TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";

    #[test]
    fn decrypts_a_token_made_by_another_fernet_implementation() {
        let vault = Vault::new(SPEC_KEY).unwrap();
        assert_eq!(vault.decrypt(SPEC_TOKEN).unwrap().expose(), "hello");
    }

    #[test]
    fn round_trips_and_never_prints_the_secret() {
        let vault = Vault::new(&Vault::generate_key()).unwrap();
        let token = vault.encrypt("s3cr3t-value");
        assert!(!token.contains("s3cr3t"));
        let secret = vault.decrypt(&token).unwrap();
        assert_eq!(secret.expose(), "s3cr3t-value");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
    }

    #[test]
    fn refuses_tokens_of_another_key_and_bad_keys() {
        let a = Vault::new(&Vault::generate_key()).unwrap();
        let b = Vault::new(&Vault::generate_key()).unwrap();
        assert!(matches!(
            b.decrypt(&a.encrypt("x")),
            Err(VaultError::Undecryptable)
        ));
        assert!(matches!(Vault::new("short"), Err(VaultError::InvalidKey)));
    }
}
