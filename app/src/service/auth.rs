//! Accounts: registration, sign-in with throttling, and password changes. Passwords are
//! hashed in `password_hashing`.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::alerts::AlertKind;
use super::audit::{Action, ClientInfo};
use super::sessions::SignIn;
use super::{Caller, Keywarden, ServiceError};
use crate::model::{SessionKind, UserView};
use crate::network::counted_as;
use crate::store::{RecentEvents, StoreError, UserRow};

const MIN_PASSWORD_CHARS: usize = 8;
/// Failed sign-ins of an account from addresses it never signed in from, together, may be this
/// many times the limit of one address.
const STRANGER_FACTOR: i64 = 10;
const MAX_PASSWORD_CHARS: usize = 128;

/// Sign-in and registration limits; every count lives in the database (the audit trail), so
/// several instances share them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Failed sign-ins per account and address within `login_window` (and ten times as many
    /// from every address the account never signed in from, together).
    pub login_failures_per_account: i64,
    /// Failed sign-ins per client address within `login_window`.
    pub login_failures_per_ip: i64,
    pub login_window: Duration,
    /// Registrations per client address within `register_window`.
    pub registrations_per_ip: i64,
    pub register_window: Duration,
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

pub(super) fn validate_password(field: &str, password: &str) -> Result<(), ServiceError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ServiceError::Invalid(format!(
            "{field}: must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

async fn user_two_factor_on(store: &crate::store::Store, user_id: i64) -> Result<bool, StoreError> {
    Ok(store
        .two_factor_of(user_id)
        .await?
        .is_some_and(|row| row.is_on()))
}

/// What the account's sign-ins say of an address.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AddressHistory {
    /// The account has signed in before, from anywhere.
    pub signed_in_before: bool,
    /// It has signed in from this address.
    pub known: bool,
}

/// A sign-in attempt's places under the limits (to give back if it does not fail), and what
/// was learnt of its address on the way.
pub(super) struct Reservation {
    pub scopes: Vec<String>,
    pub address: AddressHistory,
}

fn user_view(row: UserRow) -> UserView {
    UserView {
        id: row.id,
        email: row.email,
        is_active: row.is_active,
        created_at: row.created_at,
    }
}

/// Seconds until the oldest counted event leaves the window (at least 1).
fn retry_after(oldest: Option<DateTime<Utc>>, window: Duration, now: DateTime<Utc>) -> u64 {
    let free_at = oldest.unwrap_or(now) + window;
    (free_at - now).num_seconds().max(1) as u64
}

impl Keywarden {
    pub async fn register(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<UserView, ServiceError> {
        let email = validate_email(email)?;
        validate_password("password", &password)?;
        if let Some(ip) = client.ip.as_deref() {
            let limits = &self.inner.limits;
            let scope = format!("register:ip:{}", counted_as(ip));
            self.take_place(&scope, limits.registrations_per_ip, limits.register_window)
                .await?;
        }
        // A taken email is told apart before anything is written, but the password is hashed
        // all the same, so the answer takes as long either way; the attempt counts against the
        // address's limit like any other.
        let taken = self.inner.store.find_user_by_email(&email).await?.is_some();
        let hashed = self.inner.passwords.hash(password).await?;
        let registered = match taken {
            true => Err(ServiceError::EmailTaken),
            false => {
                let event = self.event(client, Action::Register);
                match self.inner.store.insert_user(&email, &hashed, &event).await {
                    Ok(row) => Ok(row),
                    Err(StoreError::Unique) => Err(ServiceError::EmailTaken),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        match registered {
            Ok(row) => {
                tracing::info!(user_id = row.id, "user registered");
                Ok(user_view(row))
            }
            Err(err) => {
                self.record(client, None, None, Action::Register, Err(&err))
                    .await;
                Err(err)
            }
        }
    }

    /// Checks the credentials and opens a session. Every attempt is recorded, a failed one
    /// against the account it named (or none, for an unknown email); too many recent failures
    /// for the account or from the address are refused before the password is even checked.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
        kind: SessionKind,
    ) -> Result<SignIn, ServiceError> {
        // No account has an invalid address, and one with a NUL byte would be refused by
        // PostgreSQL itself; it is simply unknown.
        let user = match validate_email(email) {
            Ok(email) => self.inner.store.find_user_by_email(&email).await?,
            Err(_) => None,
        };
        let user_id = user.as_ref().map(|u| u.id);
        let reservation = match self.reserve_sign_in(user_id, client).await {
            Ok(reserved) => reserved,
            Err(err) => {
                self.record(client, user_id, None, Action::Login, Err(&err))
                    .await;
                return Err(err);
            }
        };
        let hash = user.as_ref().map(|u| u.hashed_password.clone());
        let matches = self.inner.passwords.verify(password, hash).await;
        if !matches.as_ref().is_ok_and(|matches| !matches) {
            // Only a wrong password keeps its place.
            self.give_back(&reservation.scopes).await;
        }
        let matches = matches?;
        let user = match user {
            Some(user) if matches && user.is_active => user,
            found => {
                // An inactive account's right password is recorded as such, but answered as a
                // wrong one: the answer does not tell a guesser the password was right.
                let err = match found {
                    Some(_) if matches => ServiceError::InactiveUser,
                    _ => ServiceError::InvalidCredentials,
                };
                self.record(client, user_id, None, Action::Login, Err(&err))
                    .await;
                return Err(ServiceError::InvalidCredentials);
            }
        };
        if user_two_factor_on(&self.inner.store, user.id).await? {
            return self.challenge_second_factor(user.id, kind).await;
        }
        self.complete_sign_in(user.id, client, kind, false, reservation.address)
            .await
    }

    /// Opens the session of a sign-in whose every factor was proved, and tells the owner when
    /// it comes from a new address (as `address` found it when the attempt was reserved).
    pub(super) async fn complete_sign_in(
        &self,
        user_id: i64,
        client: &ClientInfo,
        kind: SessionKind,
        stepped_up: bool,
        address: AddressHistory,
    ) -> Result<SignIn, ServiceError> {
        tracing::info!(user_id, "login");
        let signed_in = self.open_session(user_id, client, kind, stepped_up).await?;
        // The account's first sign-in does not count: it has no habits yet.
        if address.signed_in_before && !address.known {
            let alert = self.new_alert(
                AlertKind::LoginNewAddress,
                json!({ "ip": client.ip, "client": client.in_words() }),
            );
            self.raise_alert(user_id, alert).await;
        }
        Ok(signed_in)
    }

    /// Whether the account has signed in at all, and from `client`'s address; neither when
    /// that cannot be told (no address, or the database failing: logged).
    async fn address_history(&self, user_id: i64, client: &ClientInfo) -> AddressHistory {
        let Some(ip) = client.ip.as_deref() else {
            return AddressHistory::default();
        };
        let (signed_in_before, known) = self
            .inner
            .store
            .sign_ins_from(user_id, ip)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(
                    user_id,
                    "cannot read the account's sign-in addresses: {err}"
                );
                (false, false)
            });
        AddressHistory {
            signed_in_before,
            known,
        }
    }

    /// Reserves this attempt's places under its limits before the password is checked; answers
    /// the scopes reserved, to give back if the attempt succeeds. Past a limit, nothing stays
    /// reserved: 429. The limits: the account from this address (so failures elsewhere never
    /// shut the owner out of an address they signed in from before), the account from every
    /// address it never signed in from together (a slower back-off, `STRANGER_FACTOR` times as
    /// many), and the address across accounts. The owner is told when an address they never
    /// used is stopped.
    pub(super) async fn reserve_sign_in(
        &self,
        user_id: Option<i64>,
        client: &ClientInfo,
    ) -> Result<Reservation, ServiceError> {
        let limits = &self.inner.limits;
        let address = client.ip.as_deref().map(counted_as);
        let mut scopes = Vec::new();
        let mut history = AddressHistory::default();
        let mut stranger = false;
        if let Some(id) = user_id {
            history = self.address_history(id, client).await;
            stranger = !history.known;
            let from = address.as_deref().unwrap_or("unknown");
            scopes.push((
                format!("login:account:{id}:{from}"),
                limits.login_failures_per_account,
            ));
            if stranger {
                scopes.push((
                    format!("login:account:{id}:strangers"),
                    limits.login_failures_per_account * STRANGER_FACTOR,
                ));
            }
        }
        if let Some(address) = &address {
            scopes.push((format!("login:ip:{address}"), limits.login_failures_per_ip));
        }
        let mut reserved = Vec::new();
        for (index, (scope, limit)) in scopes.into_iter().enumerate() {
            if let Err(err) = self.take_place(&scope, limit, limits.login_window).await {
                self.give_back(&reserved).await;
                if let (Some(id), true, 0) = (user_id, stranger, index) {
                    self.tell_owner_of_blocked_address(id, client).await;
                }
                return Err(err);
            }
            reserved.push(scope);
        }
        Ok(Reservation {
            scopes: reserved,
            address: history,
        })
    }

    /// `login.blocked`, at most once per address and window.
    async fn tell_owner_of_blocked_address(&self, user_id: i64, client: &ClientInfo) {
        let limits = &self.inner.limits;
        let window_secs = limits.login_window.num_seconds().max(1);
        let address = client.ip.as_deref().map(counted_as).unwrap_or_default();
        let mut alert = self.new_alert(
            AlertKind::LoginBlocked,
            json!({
                "ip": client.ip,
                "client": client.in_words(),
                "failures": limits.login_failures_per_account,
                "blocked_for_seconds": window_secs,
            }),
        );
        let window = self.now().timestamp() / window_secs;
        alert.once_key = Some(format!("login.blocked:{user_id}:{address}:{window}"));
        self.raise_alert(user_id, alert).await;
    }

    /// Takes one of `limit` places of `scope` in its window (`Store::reserve_attempt`: one
    /// statement, so attempts arriving at once each see the others); past the limit, gives it
    /// back and answers 429.
    async fn take_place(
        &self,
        scope: &str,
        limit: i64,
        window: Duration,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let (used, since) = self.inner.store.reserve_attempt(scope, now, window).await?;
        if used > limit {
            self.give_back(&[scope.to_owned()]).await;
            return Err(ServiceError::TooManyAttempts {
                retry_after_secs: retry_after(Some(since), window, now),
            });
        }
        Ok(())
    }

    /// Gives back the places of an attempt that did not fail.
    pub(super) async fn give_back(&self, scopes: &[String]) {
        for scope in scopes {
            if let Err(err) = self.inner.store.release_attempt(scope).await {
                tracing::warn!("cannot give back an attempt's place: {err}");
            }
        }
    }

    /// 429 once `limit` events match `recent`, until the oldest leaves the window.
    async fn within_limit(
        &self,
        recent: &RecentEvents<'_>,
        limit: i64,
        window: Duration,
    ) -> Result<(), ServiceError> {
        let (count, oldest) = self.inner.store.count_recent_events(recent).await?;
        if count >= limit {
            return Err(ServiceError::TooManyAttempts {
                retry_after_secs: retry_after(oldest, window, self.now()),
            });
        }
        Ok(())
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

    /// Sets a new password after checking the current one; every other session ends.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current_password: String,
        new_password: String,
    ) -> Result<(), ServiceError> {
        validate_password("new_password", &new_password)?;
        // A stolen token must not let its holder guess the password without limit.
        let limits = &self.inner.limits;
        let wrong_guesses = RecentEvents {
            user_id: caller.user_id,
            action: Action::PasswordChange.as_str(),
            error_code: ServiceError::WrongPassword.code(),
            since: self.now() - limits.login_window,
        };
        self.within_limit(
            &wrong_guesses,
            limits.login_failures_per_account,
            limits.login_window,
        )
        .await?;
        let user = self
            .inner
            .store
            .find_user_by_id(caller.user_id)
            .await?
            .ok_or(ServiceError::NotAuthenticated(
                "the account no longer exists",
            ))?;
        let passwords = &self.inner.passwords;
        if !passwords
            .verify(current_password, Some(user.hashed_password))
            .await?
        {
            let err = ServiceError::WrongPassword;
            self.record_failure(caller, Action::PasswordChange, &Err::<(), _>(err))
                .await;
            return Err(ServiceError::WrongPassword);
        }
        let hashed = passwords.hash(new_password).await?;
        let event = self.event(&caller.client, Action::PasswordChange);
        self.inner
            .store
            .change_password(caller.user_id, &hashed, &caller.session_id, &event)
            .await?;
        tracing::info!(user_id = caller.user_id, "password changed");
        let alert = self.new_alert(
            AlertKind::PasswordChanged,
            json!({ "ip": caller.client.ip, "client": caller.client.in_words() }),
        );
        self.raise_alert(caller.user_id, alert).await;
        Ok(())
    }

    /// Deactivates the account with this email (the operator's `keywarden deactivate-user`):
    /// every request with its tokens or cookie is refused from the next one on.
    pub async fn deactivate_user(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<UserView, ServiceError> {
        let email = validate_email(email)?;
        let event = self.event(client, Action::Deactivate);
        let user = self
            .inner
            .store
            .deactivate_user(&email, &event)
            .await?
            .ok_or(ServiceError::UserNotFound)?;
        tracing::info!(user_id = user.id, "user deactivated");
        Ok(user_view(user))
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
        assert!(validate_password("password", "1234567").is_err());
        assert!(validate_password("password", "12345678").is_ok());
        assert!(validate_password("password", &"x".repeat(128)).is_ok());
        assert!(validate_password("password", &"x".repeat(129)).is_err());
    }

    #[test]
    fn retry_after_counts_from_the_oldest_event_in_the_window() {
        let now = Utc::now();
        let window = Duration::minutes(15);
        assert_eq!(
            retry_after(Some(now - Duration::minutes(5)), window, now),
            600
        );
        assert_eq!(retry_after(Some(now - window), window, now), 1);
    }
}
