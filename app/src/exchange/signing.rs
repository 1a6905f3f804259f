//! Binance's three request signatures. The key type follows from the secret's form: a PEM
//! private key is Ed25519 or RSA (PKCS#1 v1.5 over SHA-256), anything else is an HMAC secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use sha2::Sha256;

use crate::model::KeyType;

#[derive(Debug, thiserror::Error)]
pub enum KeyFormatError {
    #[error("secret_key: the PEM block is malformed")]
    MalformedPem,
    #[error(
        "secret_key: the PEM key is neither an Ed25519 nor an RSA (2048 to 4096 bits) private key"
    )]
    UnsupportedPem,
}

/// A key ready to sign requests; built from a decrypted secret for one call and then dropped.
pub enum Signer<'a> {
    Hmac(&'a str),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl<'a> Signer<'a> {
    pub fn from_secret(secret: &'a str) -> Result<Self, KeyFormatError> {
        if !secret.contains("-----BEGIN") {
            return Ok(Signer::Hmac(secret));
        }
        // The private key in the clear: wiped when dropped (ring keeps its own copy).
        let der = zeroize::Zeroizing::new(pem_to_der(secret)?);
        if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            return Ok(Signer::Ed25519(key));
        }
        match RsaKeyPair::from_pkcs8(&der).or_else(|_| RsaKeyPair::from_der(&der)) {
            Ok(key) => Ok(Signer::Rsa(key)),
            Err(_) => Err(KeyFormatError::UnsupportedPem),
        }
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            Signer::Hmac(_) => KeyType::Hmac,
            Signer::Ed25519(_) => KeyType::Ed25519,
            Signer::Rsa(_) => KeyType::Rsa,
        }
    }

    /// The signature as Binance prints it: lowercase hex for HMAC, base64 otherwise.
    pub fn sign(&self, payload: &str) -> String {
        match self {
            Signer::Hmac(secret) => sign_hmac_sha256(secret, payload),
            Signer::Ed25519(key) => BASE64.encode(key.sign(payload.as_bytes())),
            Signer::Rsa(key) => off_the_async_workers(|| {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    payload.as_bytes(),
                    &mut signature,
                )
                .expect("the buffer is the modulus length");
                BASE64.encode(signature)
            }),
        }
    }

    /// The signature as it goes into a query string: base64's `+ / =` percent-encoded.
    pub fn sign_for_query(&self, payload: &str) -> String {
        self.sign(payload)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    }
}

/// An RSA signature costs about a millisecond of CPU (a 4096-bit one several): on the server's
/// runtime it runs with this worker handed over, so the requests waiting on it are not held up.
fn off_the_async_workers<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Binance's HMAC-SHA256 signature: lowercase hex of HMAC(secret, payload).
pub fn sign_hmac_sha256(secret: &str, payload: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The DER inside a PEM block. Tolerates the line breaks a single-line form field removes.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, KeyFormatError> {
    let begin = pem.find("-----BEGIN").ok_or(KeyFormatError::MalformedPem)?;
    let after_label = pem[begin + 10..]
        .find("-----")
        .map(|i| begin + 10 + i + 5)
        .ok_or(KeyFormatError::MalformedPem)?;
    let end = pem[after_label..]
        .find("-----END")
        .map(|i| after_label + i)
        .ok_or(KeyFormatError::MalformedPem)?;
    let body: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        pem[after_label..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    );
    BASE64
        .decode(body.as_bytes())
        .map_err(|_| KeyFormatError::MalformedPem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    #[test]
    fn rsa_signing_leaves_the_async_worker_free() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::time::Duration;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let ticks = Arc::new(AtomicU32::new(0));
            let counted = ticks.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            let before = ticks.load(Ordering::Relaxed);
            let signing = tokio::spawn(async {
                let signer = Signer::from_secret(RSA_PEM).unwrap();
                let started = std::time::Instant::now();
                while started.elapsed() < Duration::from_millis(200) {
                    signer.sign("symbol=BTCUSDT&timestamp=1");
                }
            });
            signing.await.unwrap();
            let meanwhile = ticks.load(Ordering::Relaxed) - before;
            ticker.abort();
            // Held for 200 ms on the one worker, the ticker would not have run at all.
            assert!(
                meanwhile >= 20,
                "the worker's other task ran {meanwhile} times"
            );
        });
    }

    // ../shared/reference/binance-signature-vectors.json
    const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n";
    const RSA_PEM: &str =
        include_str!("../../../end2end/fake-exchange/fixtures/rsa-2048-test-key.pem");

    #[test]
    fn hmac_matches_binance_official_examples() {
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let cases = [
            (
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
                "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
            ),
            (
                "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
                "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
            ),
        ];
        let signer = Signer::from_secret(secret).unwrap();
        assert_eq!(signer.key_type(), KeyType::Hmac);
        for (payload, expected) in cases {
            assert_eq!(signer.sign(payload), expected);
            assert_eq!(signer.sign_for_query(payload), expected);
        }
    }

    #[test]
    fn ed25519_matches_binance_official_example() {
        let signer = Signer::from_secret(ED25519_PEM).unwrap();
        assert_eq!(signer.key_type(), KeyType::Ed25519);
        let payload = "A\u{1}EXAMPLE\u{1}SPOT\u{1}1\u{1}20240627-11:17:25.223";
        let expected = "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA==";
        assert_eq!(signer.sign(payload), expected);
        assert_eq!(
            signer.sign_for_query(payload),
            expected.replace('+', "%2B").replace('=', "%3D")
        );
        // The same key pasted into a single-line field, its line breaks gone.
        let flattened = ED25519_PEM.replace('\n', "");
        assert_eq!(
            Signer::from_secret(&flattened).unwrap().sign(payload),
            expected
        );
    }

    #[test]
    fn rsa_signs_pkcs1_v15_sha256_verifiable_with_the_public_key() {
        let signer = Signer::from_secret(RSA_PEM).unwrap();
        assert_eq!(signer.key_type(), KeyType::Rsa);
        let payload = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=0.2&timestamp=1668481559918&recvWindow=5000";
        let signature = signer.sign(payload);
        assert_eq!(
            signature.len(),
            344,
            "2048-bit signatures are 344 base64 characters"
        );
        let Signer::Rsa(key) = &signer else {
            unreachable!()
        };
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
        let raw = BASE64.decode(&signature).unwrap();
        assert!(public.verify(payload.as_bytes(), &raw).is_ok());
        assert!(public.verify(b"another payload", &raw).is_err());
        assert!(!signer.sign_for_query(payload).contains(['+', '/', '=']));
    }

    #[test]
    fn malformed_pem_is_refused() {
        assert!(matches!(
            Signer::from_secret("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----"),
            Err(KeyFormatError::MalformedPem)
        ));
        assert!(matches!(
            Signer::from_secret("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(KeyFormatError::UnsupportedPem)
        ));
    }
}
