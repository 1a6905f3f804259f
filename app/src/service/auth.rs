use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::audit::{Action, ClientInfo};
use super::{Caller, Keywarden, ServiceError};
use crate::model::{TokenView, UserView};
use crate::store::{UserRow, is_unique_violation};

const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 128;
/// Tolerance for clocks that disagree slightly about token expiry.
const EXPIRY_LEEWAY_SECS: i64 = 30;

/// Issues and checks the HS256 access tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    fn issue(&self, user_id: i64, now: DateTime<Utc>) -> Result<TokenView, ServiceError> {
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ServiceError::internal("signing a token", e))?;
        Ok(TokenView {
            access_token: token,
            token_type: "bearer".into(),
            expires_in: self.ttl.num_seconds(),
        })
    }

    /// The user id a valid, unexpired token names.
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<i64, ServiceError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the service clock, not the system's.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| ServiceError::NotAuthenticated("invalid access token"))?
            .claims;
        if claims.exp + EXPIRY_LEEWAY_SECS <= now.timestamp() {
            return Err(ServiceError::NotAuthenticated("access token expired"));
        }
        claims
            .sub
            .parse()
            .map_err(|_| ServiceError::NotAuthenticated("invalid access token"))
    }
}

/// A plausible address: one `@`, a dotted domain, no spaces. Returns it lowercased.
pub fn validate_email(email: &str) -> Result<String, ServiceError> {
    let email = email.trim().to_lowercase();
    let invalid = || ServiceError::Invalid("email: not a valid email address".into());
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.contains('@')
        && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

fn validate_password(password: &str) -> Result<(), ServiceError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ServiceError::Invalid(format!(
            "password: must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// argon2id with the crate's defaults (m=19 MiB, t=2, p=1: OWASP's recommendation), off the
/// async runtime.
async fn hash_password(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(|e| ServiceError::internal("password hashing task", e))?
    .map_err(|e| ServiceError::internal("hashing a password", e))
}

/// Verified against a dummy hash for unknown emails, so timing does not reveal which exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"keywarden-dummy-password", &salt)
        .expect("hashing a constant")
        .to_string()
});

async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

fn user_view(row: UserRow) -> UserView {
    UserView {
        id: row.id,
        email: row.email,
        is_active: row.is_active,
        created_at: row.created_at,
    }
}

impl Keywarden {
    pub async fn register(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<UserView, ServiceError> {
        let email = validate_email(email)?;
        validate_password(&password)?;
        let hashed = hash_password(password).await?;
        let event = self.event(client, Action::Register);
        match self.inner.store.insert_user(&email, &hashed, &event).await {
            Ok(row) => {
                tracing::info!(user_id = row.id, "user registered");
                Ok(user_view(row))
            }
            Err(e) if is_unique_violation(&e) => Err(ServiceError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks the credentials and issues an access token. Every attempt is recorded, a failed
    /// one against the account it named (or none, for an unknown email).
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<TokenView, ServiceError> {
        let email = email.trim().to_lowercase();
        let user = self.inner.store.find_user_by_email(&email).await?;
        let hash = user.as_ref().map(|u| u.hashed_password.clone());
        let matches = verify_password(password, hash).await;
        let outcome = match &user {
            Some(user) if matches && user.is_active => Ok(()),
            Some(_) if matches => Err(ServiceError::InactiveUser),
            _ => Err(ServiceError::InvalidCredentials),
        };
        let user_id = user.map(|u| u.id);
        self.record(
            client,
            user_id,
            None,
            Action::Login,
            outcome.as_ref().copied(),
        )
        .await;
        outcome?;
        let user_id = user_id.ok_or(ServiceError::InvalidCredentials)?;
        tracing::info!(user_id, "login");
        self.inner.tokens.issue(user_id, self.now())
    }

    /// The caller a request's access token names: 401 for a missing or bad token or an unknown
    /// user, 403 if inactive.
    pub async fn authenticate(
        &self,
        token: Option<&str>,
        client: ClientInfo,
    ) -> Result<Caller, ServiceError> {
        let token = token.ok_or(ServiceError::NotAuthenticated(
            "not signed in: send Authorization: Bearer <token>",
        ))?;
        let user_id = self.inner.tokens.verify(token, self.now())?;
        let user = self.inner.store.find_user_by_id(user_id).await?.ok_or(
            ServiceError::NotAuthenticated("the account no longer exists"),
        )?;
        if !user.is_active {
            return Err(ServiceError::InactiveUser);
        }
        Ok(Caller {
            user_id: user.id,
            client,
        })
    }

    pub async fn current_user(&self, caller: &Caller) -> Result<UserView, ServiceError> {
        self.inner
            .store
            .find_user_by_id(caller.user_id)
            .await?
            .map(user_view)
            .ok_or(ServiceError::NotAuthenticated(
                "the account no longer exists",
            ))
    }

    pub fn token_ttl_seconds(&self) -> i64 {
        self.inner.tokens.ttl.num_seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(
            validate_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@x.io",
            "a@@x.io",
            "a@x..io",
        ] {
            assert!(validate_email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn passwords_must_be_8_to_128_characters() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(128)).is_ok());
        assert!(validate_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn tokens_expire_and_cannot_be_forged() {
        let now = Utc::now();
        let tokens = Tokens::new(b"secret-one", Duration::minutes(15));
        let token = tokens.issue(42, now).unwrap();
        assert_eq!(token.expires_in, 900);
        assert_eq!(tokens.verify(&token.access_token, now).unwrap(), 42);
        let later = now + Duration::minutes(16);
        assert!(tokens.verify(&token.access_token, later).is_err());
        let other = Tokens::new(b"secret-two", Duration::minutes(15));
        assert!(other.verify(&token.access_token, now).is_err());
    }
}
