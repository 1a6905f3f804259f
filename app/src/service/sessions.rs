//! Sessions: one per sign-in, held by a browser as an HttpOnly cookie (`<id>.<secret>`, the
//! secret stored hashed) or by an API client as short-lived access JWTs plus single-use
//! rotating refresh tokens. Every authenticated request checks its session, so revoking one
//! (sign-out, sign-out everywhere, a password change, a replayed refresh token) ends it at once.

use chrono::Duration;
use sha2::{Digest, Sha256};

use super::audit::{Action, ClientInfo};
use super::{Caller, Keywarden, ServiceError};
use crate::model::{SessionKind, SessionView, TokenView};
use crate::store::{NewSession, RefreshOutcome, SessionRow};

/// Writing `last_seen_at` on every request would turn each read into a write.
const TOUCH_EVERY_SECS: i64 = 60;

#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// A browser session ends after this long without a request.
    pub idle: Duration,
    /// Any session ends this long after sign-in.
    pub max_age: Duration,
}

/// What a sign-in hands back.
pub enum SignIn {
    Api(TokenView),
    Browser {
        /// The session cookie's value.
        cookie: String,
        max_age_secs: i64,
    },
    /// The password was right; the second factor is awaited (`login_second_factor`).
    SecondFactor {
        challenge: String,
    },
}

/// What an authenticated request may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Everything the account may do.
    Full,
    /// Only what setting up a second factor needs (the account itself, its sessions, the
    /// second factor's own routes): open even when the operator requires a second factor the
    /// account has not set up yet.
    SecondFactorSetup,
}

/// How a request proves its session.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
    /// Two session cookies: one was planted (cookie tossing), and neither is trusted.
    TwoCookies,
}

/// `bytes` random bytes as URL-safe base64.
pub(super) fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buffer = vec![0u8; bytes];
    getrandom::getrandom(&mut buffer).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// Tokens are 256 random bits, so a fast hash is enough to keep the stored form useless.
pub(super) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn session_view(row: SessionRow, current: &str) -> SessionView {
    SessionView {
        current: row.id == current,
        id: row.id,
        kind: row.kind,
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        expires_at: row.expires_at,
        ip: row.ip,
        client: row
            .user_agent
            .as_deref()
            .and_then(super::user_agent::in_words),
        user_agent: row.user_agent,
    }
}

impl Keywarden {
    pub(super) async fn open_session(
        &self,
        user_id: i64,
        client: &ClientInfo,
        kind: SessionKind,
        stepped_up: bool,
    ) -> Result<SignIn, ServiceError> {
        let now = self.now();
        let settings = self.inner.sessions;
        let id = random_token(16);
        let secret = random_token(32);
        let secret_hash = token_hash(&secret);
        let session = NewSession {
            id: &id,
            user_id,
            kind,
            secret_hash: (kind == SessionKind::Browser).then_some(secret_hash.as_str()),
            expires_at: now + settings.max_age,
            refresh_token_hash: (kind == SessionKind::Api).then_some(secret_hash.as_str()),
            stepped_up_at: stepped_up.then_some(now),
        };
        let event = self.event(client, Action::Login);
        self.inner.store.insert_session(&session, &event).await?;
        Ok(match kind {
            SessionKind::Browser => SignIn::Browser {
                cookie: format!("{id}.{secret}"),
                max_age_secs: settings.max_age.num_seconds(),
            },
            SessionKind::Api => SignIn::Api(self.token_view(user_id, &id, secret)?),
        })
    }

    fn token_view(
        &self,
        user_id: i64,
        session_id: &str,
        refresh_token: String,
    ) -> Result<TokenView, ServiceError> {
        let tokens = &self.inner.tokens;
        Ok(TokenView {
            access_token: tokens.issue(user_id, session_id, self.now())?,
            token_type: "bearer".into(),
            expires_in: tokens.ttl.num_seconds(),
            refresh_token,
        })
    }

    /// The caller a request's credential names: 401 for a missing, bad, expired or revoked
    /// one (or a deleted account), 403 if the account is inactive.
    pub async fn authenticate(
        &self,
        credential: Option<Credential<'_>>,
        client: ClientInfo,
        access: Access,
    ) -> Result<Caller, ServiceError> {
        let ended = || ServiceError::NotAuthenticated("the session has ended; sign in again");
        let credential = credential.ok_or(ServiceError::NotAuthenticated(
            "not signed in: send Authorization: Bearer <token>",
        ))?;
        let now = self.now();
        let (session_id, claimed_user, secret) = match credential {
            Credential::Bearer(token) => {
                let claims = self.inner.tokens.verify(token, now)?;
                (claims.session_id, Some(claims.user_id), None)
            }
            Credential::TwoCookies => {
                return Err(ServiceError::NotAuthenticated(
                    "the request carries two session cookies; sign in again",
                ));
            }
            Credential::Cookie(value) => {
                let (id, secret) = value
                    .split_once('.')
                    .ok_or(ServiceError::NotAuthenticated("invalid session cookie"))?;
                (id.to_owned(), None, Some(secret))
            }
        };
        let found = self
            .inner
            .store
            .find_session_of_user(&session_id)
            .await?
            .ok_or_else(ended)?;
        let session = &found.session;
        let owner_matches = claimed_user.is_none_or(|user_id| user_id == session.user_id);
        let secret_matches = match (secret, &session.secret_hash) {
            (None, _) => session.kind == SessionKind::Api,
            (Some(secret), Some(stored)) => {
                constant_time_eq(token_hash(secret).as_bytes(), stored.as_bytes())
            }
            (Some(_), None) => false,
        };
        if !owner_matches || !secret_matches {
            return Err(ServiceError::NotAuthenticated("invalid session"));
        }
        let idle_out = secret.is_some() && session.last_seen_at + self.inner.sessions.idle <= now;
        if session.revoked_at.is_some() || session.expires_at <= now || idle_out {
            return Err(ended());
        }
        if !found.user_is_active {
            return Err(ServiceError::InactiveUser);
        }
        if access == Access::Full && self.must_set_up_two_factor(found.two_factor_on) {
            return Err(ServiceError::TwoFactorSetupRequired);
        }
        if (now - session.last_seen_at).num_seconds() >= TOUCH_EVERY_SECS
            && let Err(err) = self.inner.store.touch_session(&session.id, now).await
        {
            tracing::warn!("cannot record a session's last request: {err}");
        }
        Ok(Caller {
            user_id: session.user_id,
            session_id: session.id.clone(),
            client,
            key: found.key,
            two_factor_on: found.two_factor_on,
            stepped_up_at: session.stepped_up_at,
        })
    }

    /// Deletes the sessions, refresh tokens, sign-in challenges and limit counters that can no
    /// longer be used (run by every instance now and then); returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        let limits = &self.inner.limits;
        let now = self.now();
        let longest_window = limits.login_window.max(limits.register_window);
        Ok(self
            .inner
            .store
            .purge_expired(now, now - longest_window)
            .await?)
    }

    /// Trades a refresh token for a new access token and a new refresh token. A refresh token
    /// presented a second time means it was stolen or replayed: its whole session is revoked.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
    ) -> Result<TokenView, ServiceError> {
        let invalid = || ServiceError::NotAuthenticated("invalid or expired refresh token");
        let store = &self.inner.store;
        let next = random_token(32);
        let outcome = store
            .rotate_refresh_token(&token_hash(refresh_token), &token_hash(&next), self.now())
            .await?;
        let session_id = match outcome {
            RefreshOutcome::Rotated { session_id } => session_id,
            RefreshOutcome::Reused { session_id } => {
                if let Some(found) = store.find_session_of_user(&session_id).await? {
                    let user_id = found.session.user_id;
                    let mut event = self.event(client, Action::RefreshReuse);
                    event.outcome = "failure";
                    event.error_code = Some("refresh_token_reused");
                    store
                        .revoke_sessions(user_id, Some(&session_id), None, &event)
                        .await?;
                    tracing::warn!(user_id, "refresh token reused: session revoked");
                }
                return Err(ServiceError::NotAuthenticated(
                    "refresh token already used: the session is revoked; sign in again",
                ));
            }
            RefreshOutcome::Unknown => return Err(invalid()),
        };
        let found = store
            .find_session_of_user(&session_id)
            .await?
            .ok_or_else(invalid)?;
        let session = found.session;
        if session.revoked_at.is_some() || session.expires_at <= self.now() {
            return Err(invalid());
        }
        if !found.user_is_active {
            return Err(ServiceError::InactiveUser);
        }
        self.token_view(session.user_id, &session.id, next)
    }

    /// Ends the caller's session.
    pub async fn logout(&self, caller: &Caller) -> Result<(), ServiceError> {
        let event = self.event(&caller.client, Action::Logout);
        self.inner
            .store
            .revoke_sessions(caller.user_id, Some(&caller.session_id), None, &event)
            .await?;
        Ok(())
    }

    /// Ends every session of the caller's account, this one included. Returns how many.
    pub async fn logout_everywhere(&self, caller: &Caller) -> Result<u64, ServiceError> {
        let event = self.event(&caller.client, Action::LogoutEverywhere);
        Ok(self
            .inner
            .store
            .revoke_sessions(caller.user_id, None, None, &event)
            .await?)
    }

    /// Ends one of the caller's sessions.
    pub async fn revoke_session(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let event = self.event(&caller.client, Action::SessionRevoke);
        match self
            .inner
            .store
            .revoke_sessions(caller.user_id, Some(id), None, &event)
            .await?
        {
            0 => Err(ServiceError::SessionNotFound),
            _ => Ok(()),
        }
    }

    /// The caller's sessions still in force, newest first.
    pub async fn sessions(&self, caller: &Caller) -> Result<Vec<SessionView>, ServiceError> {
        let now = self.now();
        let idle = self.inner.sessions.idle;
        let rows = self
            .inner
            .store
            .live_sessions_of_user(caller.user_id, now)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.kind != SessionKind::Browser || row.last_seen_at + idle > now)
            .map(|row| session_view(row, &caller.session_id))
            .collect())
    }
}

/// Equal bytes, compared in time that depends on the length alone.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed_one_way() {
        let (a, b) = (random_token(32), random_token(32));
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
