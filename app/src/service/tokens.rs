//! Access tokens: HS256 JWTs naming a user and the session they belong to. The algorithm is
//! pinned; `exp`, `nbf`, `iat` and `sub` are required and checked against the service clock.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::ServiceError;

/// Tolerance for clocks that disagree slightly.
const LEEWAY_SECS: i64 = 30;

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
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
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
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
        let mut validation = Validation::new(Algorithm::HS256);
        // Times are checked below against the service clock, not the system's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| invalid())?
            .claims;
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
}
