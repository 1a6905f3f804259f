//! Access tokens: HS256 JWTs naming a user and the session they belong to. The algorithm is
//! pinned; `exp`, `nbf`, `iat` and `sub` are required and checked against the service clock.
//!
//! jsonwebtoken signs them. Every authenticated request checks one, so the check is ours and
//! narrower: only the header we issue is accepted, the HMAC starts from a state keyed once,
//! and the claims are parsed once. jsonwebtoken's `decode` parsed the header's JSON, keyed a
//! new HMAC and parsed the claims twice: 26,000 instructions a request (callgrind), about a
//! tenth of GET /api/v1/api-keys/me.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::ServiceError;

/// jsonwebtoken's cryptography, HMAC only, from the `hmac` and `sha2` crates the service uses
/// anyway: its own RustCrypto provider would bring RSA and elliptic curves (the `rsa` crate
/// among them) into a server that only ever signs HS256.
pub mod jwt_crypto {
    use hmac::{Hmac, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
    use jsonwebtoken::errors::{ErrorKind, Result};
    use jsonwebtoken::signature::{Error, Signer, Verifier};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use sha2::{Sha256, Sha384, Sha512};

    struct HmacKey {
        algorithm: Algorithm,
        secret: zeroize::Zeroizing<Vec<u8>>,
    }

    impl HmacKey {
        fn new(algorithm: Algorithm, secret: Result<&[u8]>) -> Result<Box<Self>> {
            match algorithm {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Ok(Box::new(Self {
                    algorithm,
                    secret: zeroize::Zeroizing::new(secret?.to_vec()),
                })),
                _ => Err(ErrorKind::InvalidAlgorithm.into()),
            }
        }

        fn mac(&self, message: &[u8]) -> Vec<u8> {
            fn keyed<M: Mac + hmac::digest::KeyInit>(secret: &[u8], message: &[u8]) -> Vec<u8> {
                let mut mac = <M as Mac>::new_from_slice(secret).expect("HMAC takes any key");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            match self.algorithm {
                Algorithm::HS384 => keyed::<Hmac<Sha384>>(&self.secret, message),
                Algorithm::HS512 => keyed::<Hmac<Sha512>>(&self.secret, message),
                _ => keyed::<Hmac<Sha256>>(&self.secret, message),
            }
        }
    }

    impl Signer<Vec<u8>> for HmacKey {
        fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, Error> {
            Ok(self.mac(message))
        }
    }

    impl JwtSigner for HmacKey {
        fn algorithm(&self) -> Algorithm {
            self.algorithm
        }
    }

    impl Verifier<Vec<u8>> for HmacKey {
        fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), Error> {
            let same = super::super::sessions::constant_time_eq(&self.mac(message), signature);
            same.then_some(()).ok_or_else(Error::new)
        }
    }

    impl JwtVerifier for HmacKey {
        fn algorithm(&self) -> Algorithm {
            self.algorithm
        }
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
        Ok(HmacKey::new(*algorithm, key.try_get_hmac_secret())?)
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
        Ok(HmacKey::new(*algorithm, key.try_get_hmac_secret())?)
    }

    static HMAC_ONLY: CryptoProvider = CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        jwk_utils: JwkUtils::new_unimplemented(),
    };

    /// Makes it jsonwebtoken's for this process (once; later calls change nothing).
    pub fn install() {
        let _ = HMAC_ONLY.install_default();
    }
}

/// Tolerance for clocks that disagree slightly.
const LEEWAY_SECS: i64 = 30;

pub struct Tokens {
    encoding: EncodingKey,
    /// HMAC-SHA256 keyed with the secret, cloned for each check.
    keyed: Hmac<Sha256>,
    /// The first segment of every token `issue` signs.
    header: String,
    pub(super) ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// The session the token belongs to; revoking it ends the token at once.
    sid: String,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// What a valid access token says.
pub struct AccessClaims {
    pub user_id: i64,
    pub session_id: String,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        jwt_crypto::install();
        let header = serde_json::to_vec(&Header::new(Algorithm::HS256)).expect("a JWT header");
        Self {
            encoding: EncodingKey::from_secret(secret),
            keyed: Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"),
            header: URL_SAFE_NO_PAD.encode(header),
            ttl,
        }
    }

    pub fn issue(
        &self,
        user_id: i64,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.to_owned(),
            jti: super::sessions::random_token(16),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ServiceError::internal("signing a token", e))
    }

    /// The claims of a well-signed, current token.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, ServiceError> {
        let invalid = || ServiceError::NotAuthenticated("invalid access token");
        let (signed, signature) = token.rsplit_once('.').ok_or_else(invalid)?;
        let (header, payload) = signed.split_once('.').ok_or_else(invalid)?;
        if header != self.header {
            return Err(invalid());
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
        let mut mac = self.keyed.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature).map_err(|_| invalid())?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        let now = now.timestamp();
        if claims.exp + LEEWAY_SECS <= now {
            return Err(ServiceError::NotAuthenticated("access token expired"));
        }
        if claims.nbf - LEEWAY_SECS > now || claims.iat - LEEWAY_SECS > now {
            return Err(ServiceError::NotAuthenticated("access token not valid yet"));
        }
        let user_id = claims.sub.parse().map_err(|_| invalid())?;
        if claims.sid.is_empty() {
            return Err(invalid());
        }
        Ok(AccessClaims {
            user_id,
            session_id: claims.sid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_start_late_and_cannot_be_forged() {
        let now = Utc::now();
        let tokens = Tokens::new(b"secret-one", Duration::minutes(15));
        let token = tokens.issue(42, "s1", now).unwrap();
        let claims = tokens.verify(&token, now).unwrap();
        assert_eq!((claims.user_id, claims.session_id.as_str()), (42, "s1"));
        assert!(tokens.verify(&token, now + Duration::minutes(16)).is_err());
        assert!(tokens.verify(&token, now - Duration::minutes(2)).is_err());
        let other = Tokens::new(b"secret-two", Duration::minutes(15));
        assert!(other.verify(&token, now).is_err());
    }

    fn signed_by_jsonwebtoken(
        header: &Header,
        claims: &serde_json::Value,
        secret: &[u8],
    ) -> String {
        jwt_crypto::install();
        jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn jsonwebtoken_signs_hs256_as_rfc_7515_says() {
        // RFC 7515, appendix A.1: its HS256 example, signed again over the same input.
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        let key = B64
            .decode(
                "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
            )
            .unwrap();
        let signing_input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        jwt_crypto::install();
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(&key),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(signature, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let refused =
            jsonwebtoken::crypto::sign(b"x", &EncodingKey::from_secret(&key), Algorithm::RS256);
        assert!(refused.is_err());
    }

    #[test]
    fn only_whole_hs256_tokens_with_our_header_and_every_claim_pass() {
        let now = Utc::now();
        let secret = b"secret-one";
        let tokens = Tokens::new(secret, Duration::minutes(15));
        let t = now.timestamp();
        let claims = serde_json::json!({"sub": "7", "sid": "s7", "jti": "j", "iat": t, "nbf": t, "exp": t + 60});
        let hs256 = Header::new(Algorithm::HS256);
        let good = signed_by_jsonwebtoken(&hs256, &claims, secret);
        assert_eq!(tokens.verify(&good, now).unwrap().user_id, 7);

        let mut with_kid = hs256.clone();
        with_kid.kid = Some("k1".into());
        let refused = [
            signed_by_jsonwebtoken(&with_kid, &claims, secret),
            signed_by_jsonwebtoken(&Header::new(Algorithm::HS512), &claims, secret),
            format!("{}.", good.rsplit_once('.').unwrap().0),
            format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                good.split('.').nth(1).unwrap()
            ),
            good.replacen(".", "..", 1),
            format!("{good}.x"),
            good[..good.len() - 1].to_owned(),
            String::new(),
        ];
        for token in &refused {
            assert!(tokens.verify(token, now).is_err(), "{token}");
        }

        let (header, rest) = good.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let other_claims = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!(
            {"sub": "8", "sid": "s7", "jti": "j", "iat": t, "nbf": t, "exp": t + 60}))
            .unwrap(),
        );
        assert!(
            tokens
                .verify(&format!("{header}.{other_claims}.{signature}"), now)
                .is_err()
        );

        for missing in ["sub", "sid", "iat", "nbf", "exp"] {
            let mut partial = claims.clone();
            partial.as_object_mut().unwrap().remove(missing);
            let token = signed_by_jsonwebtoken(&hs256, &partial, secret);
            assert!(tokens.verify(&token, now).is_err(), "without {missing}");
        }
    }
}
