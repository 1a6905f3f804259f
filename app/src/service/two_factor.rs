//! The second factor: TOTP codes from an authenticator app (RFC 6238: HMAC-SHA-1, 6 digits,
//! 30-second steps), ten one-time recovery codes, the sign-in's second step, and step-up: a
//! recent code, needed before the changes that would let a thief keep or empty the account.

use chrono::{DateTime, Duration, Utc};
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

use super::audit::{Action, ClientInfo};
use super::auth::AddressHistory;
use super::sessions::{SignIn, constant_time_eq, random_token, token_hash};
use super::{Caller, Keywarden, ServiceError};
use crate::model::{RecoveryCodes, SessionKind, TwoFactorSetup, TwoFactorStatus};
use crate::store::{ChallengeRow, TwoFactorRow};
use crate::vault::{Field, Owner};

const STEP_SECS: i64 = 30;
const DIGITS: usize = 6;
/// A code of the step before or after the current one is accepted too (clocks drift).
const SKEW_STEPS: i64 = 1;
const SECRET_BYTES: usize = 20;
const RECOVERY_CODE_COUNT: usize = 10;
/// 80 random bits each: too many to guess, offline too, so a fast hash stores them.
const RECOVERY_CODE_BYTES: usize = 10;
const CHALLENGE_TTL_MINUTES: i64 = 5;
const ISSUER: &str = "Keywarden";

#[derive(Clone, Copy, Debug)]
pub struct TwoFactorSettings {
    /// How long a proven code allows the changes that need one (`KEYWARDEN_STEP_UP_WINDOW`).
    pub step_up_window: Duration,
    /// Every account must have a second factor (`KEYWARDEN_REQUIRE_2FA`).
    pub required: bool,
}

fn secret_owner(user_id: i64) -> Owner {
    Owner::unversioned(user_id, Field::TotpSecret)
}

fn totp(secret: &[u8], account: &str) -> Result<TOTP, ServiceError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS as u64,
        secret.to_vec(),
        Some(ISSUER.into()),
        account.into(),
    )
    .map_err(|err| ServiceError::internal("TOTP", err))
}

/// The step within `SKEW_STEPS` of `now` whose code is `code`, compared in constant time.
fn matching_step(totp: &TOTP, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let current = now.timestamp().div_euclid(STEP_SECS);
    (current - SKEW_STEPS..=current + SKEW_STEPS).find(|&step| {
        let expected = totp.generate((step * STEP_SECS).max(0) as u64);
        constant_time_eq(expected.as_bytes(), code.as_bytes())
    })
}

/// A code as typed: spaces and dashes dropped, letters upper-cased.
fn normalized(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn is_totp_code(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// "ABCD-EFGH-IJKL-MNOP": 80 random bits in base32.
fn new_recovery_code() -> String {
    let mut bytes = [0u8; RECOVERY_CODE_BYTES];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    let encoded = Secret::Raw(bytes.to_vec()).to_encoded().to_string();
    encoded
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The QR code of `text` as an SVG image, one unit per module with a 4-module quiet zone.
fn qr_svg(text: &str) -> Result<String, ServiceError> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|err| ServiceError::internal("QR code", format!("{err:?}")))?;
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         role=\"img\" aria-label=\"QR code for the authenticator app\" \
         shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

impl Keywarden {
    pub async fn two_factor_status(
        &self,
        caller: &Caller,
    ) -> Result<TwoFactorStatus, ServiceError> {
        let store = &self.inner.store;
        let row = store.two_factor_of(caller.user_id).await?;
        let enabled_at = row.and_then(|row| row.enabled_at);
        Ok(TwoFactorStatus {
            enabled: enabled_at.is_some(),
            enabled_at,
            recovery_codes_left: match enabled_at {
                Some(_) => store.recovery_codes_left(caller.user_id).await?,
                None => 0,
            },
            required: self.inner.two_factor.required,
            stepped_up: enabled_at.is_some() && self.stepped_up(caller),
        })
    }

    /// A new secret for the authenticator app, not in force until `enable_two_factor`.
    pub async fn set_up_two_factor(&self, caller: &Caller) -> Result<TwoFactorSetup, ServiceError> {
        let user = self.current_user(caller).await?;
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::getrandom(&mut secret).expect("the OS random source works");
        let totp = totp(&secret, &user.email)?;
        let encoded = totp.get_secret_base32();
        let sealed = self
            .inner
            .vault
            .seal(secret_owner(caller.user_id), &encoded);
        zeroize::Zeroize::zeroize(&mut secret);
        let stored = self
            .inner
            .store
            .set_up_two_factor(caller.user_id, &sealed.token, &sealed.key_id, self.now())
            .await?;
        if !stored {
            return Err(ServiceError::TwoFactorOn);
        }
        let otpauth_uri = totp.get_url();
        Ok(TwoFactorSetup {
            secret: encoded,
            qr_svg: qr_svg(&otpauth_uri)?,
            otpauth_uri,
        })
    }

    /// Confirms the secret set up last with a first code: the factor is on, and the recovery
    /// codes are made (shown this once). The session counts as stepped up.
    pub async fn enable_two_factor(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<RecoveryCodes, ServiceError> {
        let row = self
            .inner
            .store
            .two_factor_of(caller.user_id)
            .await?
            .ok_or(ServiceError::TwoFactorNotSetUp)?;
        if row.is_on() {
            return Err(ServiceError::TwoFactorOn);
        }
        let totp = self.stored_totp(&row)?;
        let step = matching_step(&totp, &normalized(code), self.now());
        let Some(step) = step else {
            let err = ServiceError::InvalidCode;
            self.record_failure(caller, Action::TwoFactorEnable, &Err::<(), _>(err))
                .await;
            return Err(ServiceError::InvalidCode);
        };
        let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
            .map(|_| new_recovery_code())
            .collect();
        let hashes: Vec<String> = codes.iter().map(|c| token_hash(&normalized(c))).collect();
        let event = self.event(&caller.client, Action::TwoFactorEnable);
        if !self
            .inner
            .store
            .enable_two_factor(caller.user_id, step, &hashes, &event)
            .await?
        {
            return Err(ServiceError::TwoFactorOn);
        }
        self.inner
            .store
            .mark_stepped_up(&caller.session_id, self.now())
            .await?;
        tracing::info!(user_id = caller.user_id, "second factor on");
        Ok(RecoveryCodes {
            recovery_codes: codes,
        })
    }

    /// Turns the second factor off (a step-up first).
    pub async fn disable_two_factor(&self, caller: &Caller) -> Result<(), ServiceError> {
        if !caller.two_factor_on {
            return Err(ServiceError::TwoFactorOff);
        }
        self.require_step_up(caller)?;
        let event = self.event(&caller.client, Action::TwoFactorDisable);
        if !self
            .inner
            .store
            .disable_two_factor(caller.user_id, &event)
            .await?
        {
            return Err(ServiceError::TwoFactorOff);
        }
        tracing::info!(user_id = caller.user_id, "second factor off");
        Ok(())
    }

    /// Proves a code for this session: for the step-up window, the changes that need one are
    /// allowed. Wrong codes count against the sign-in limits.
    pub async fn step_up(&self, caller: &Caller, code: &str) -> Result<(), ServiceError> {
        if !caller.two_factor_on {
            return Err(ServiceError::TwoFactorOff);
        }
        let proved = self.prove_code(caller.user_id, code, &caller.client).await;
        let outcome = proved.as_ref().map(|_| ());
        self.record(
            &caller.client,
            Some(caller.user_id),
            None,
            Action::StepUp,
            outcome,
        )
        .await;
        proved?;
        self.inner
            .store
            .mark_stepped_up(&caller.session_id, self.now())
            .await?;
        Ok(())
    }

    /// Whether the caller proved a code within the step-up window.
    fn stepped_up(&self, caller: &Caller) -> bool {
        caller
            .stepped_up_at
            .is_some_and(|at| self.now() - at < self.inner.two_factor.step_up_window)
    }

    /// For the changes that need a recent code: 403 `step_up_required` when the account has a
    /// second factor and this session has not proved one within the window. Accounts without
    /// one are not asked.
    pub(super) fn require_step_up(&self, caller: &Caller) -> Result<(), ServiceError> {
        match caller.two_factor_on && !self.stepped_up(caller) {
            true => Err(ServiceError::StepUpRequired),
            false => Ok(()),
        }
    }

    /// Whether the operator's rule shuts this account out until it sets up a second factor.
    pub(super) fn must_set_up_two_factor(&self, two_factor_on: bool) -> bool {
        self.inner.two_factor.required && !two_factor_on
    }

    /// The sign-in's first step went through for an account with a second factor: a challenge
    /// to answer with a code.
    pub(super) async fn challenge_second_factor(
        &self,
        user_id: i64,
        kind: SessionKind,
    ) -> Result<SignIn, ServiceError> {
        let challenge = random_token(32);
        let row = ChallengeRow {
            user_id,
            session_kind: kind.as_str().to_owned(),
            expires_at: self.now() + Duration::minutes(CHALLENGE_TTL_MINUTES),
        };
        self.inner
            .store
            .insert_sign_in_challenge(&token_hash(&challenge), &row)
            .await?;
        Ok(SignIn::SecondFactor { challenge })
    }

    /// The sign-in's second step: a code (or a recovery code) for the challenge opens the
    /// session the first step asked for, already stepped up.
    pub async fn login_second_factor(
        &self,
        challenge: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<SignIn, ServiceError> {
        let expired = || ServiceError::NotAuthenticated("the sign-in has expired; sign in again");
        let hash = token_hash(challenge);
        let store = &self.inner.store;
        let found = store
            .sign_in_challenge(&hash, self.now())
            .await?
            .ok_or_else(expired)?;
        let kind = SessionKind::parse(&found.session_kind).ok_or(ServiceError::Internal)?;
        let address = match self.prove_code(found.user_id, code, client).await {
            Ok(address) => address,
            Err(err) => {
                self.record(client, Some(found.user_id), None, Action::Login, Err(&err))
                    .await;
                return Err(err);
            }
        };
        if !store.end_sign_in_challenge(&hash, self.now()).await? {
            return Err(expired());
        }
        self.complete_sign_in(found.user_id, client, kind, true, address)
            .await
    }

    /// Checks a code of the account's second factor, throttled like passwords: each attempt
    /// takes a place under the sign-in limits first, and a right code gives it back. Answers
    /// what the account's sign-ins say of the client's address.
    async fn prove_code(
        &self,
        user_id: i64,
        code: &str,
        client: &ClientInfo,
    ) -> Result<AddressHistory, ServiceError> {
        let reservation = self.reserve_sign_in(Some(user_id), client).await?;
        let proved = self.check_code(user_id, code).await;
        if !matches!(proved, Err(ServiceError::InvalidCode)) {
            self.give_back(&reservation.scopes).await;
        }
        proved.map(|()| reservation.address)
    }

    /// The account's TOTP generator, from its stored secret.
    fn stored_totp(&self, row: &TwoFactorRow) -> Result<TOTP, ServiceError> {
        let opened = self.inner.vault.open(
            secret_owner(row.user_id),
            &row.encrypted_secret,
            Some(&row.encryption_key_id),
        );
        let secret = opened.map_err(|err| ServiceError::internal("TOTP secret", err))?;
        let bytes = Secret::Encoded(secret.expose().to_owned())
            .to_bytes()
            .map(Zeroizing::new)
            .map_err(|err| ServiceError::internal("TOTP secret", format!("{err:?}")))?;
        totp(&bytes, "")
    }

    async fn check_code(&self, user_id: i64, code: &str) -> Result<(), ServiceError> {
        let store = &self.inner.store;
        let row = store
            .two_factor_of(user_id)
            .await?
            .filter(|row| row.is_on())
            .ok_or(ServiceError::TwoFactorOff)?;
        let code = normalized(code);
        if !is_totp_code(&code) {
            let used = store
                .use_recovery_code(user_id, &token_hash(&code), self.now())
                .await?;
            return match used {
                true => {
                    tracing::info!(user_id, "recovery code used");
                    Ok(())
                }
                false => Err(ServiceError::InvalidCode),
            };
        }
        let totp = self.stored_totp(&row)?;
        let step = matching_step(&totp, &code, self.now()).ok_or(ServiceError::InvalidCode)?;
        match store.accept_totp_step(user_id, step).await? {
            true => Ok(()),
            false => Err(ServiceError::InvalidCode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890", 8-digit codes cut to 6.
    #[test]
    fn codes_match_the_rfc_6238_vectors() {
        let totp = totp(b"12345678901234567890", "test").unwrap();
        for (time, eight_digits) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(totp.generate(time), eight_digits[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let totp = totp(b"12345678901234567890", "test").unwrap();
        let now = DateTime::from_timestamp(1_111_111_111, 0).unwrap();
        let step = now.timestamp() / STEP_SECS;
        let code_at = |step: i64| totp.generate((step * STEP_SECS) as u64);
        assert_eq!(matching_step(&totp, &code_at(step), now), Some(step));
        assert_eq!(
            matching_step(&totp, &code_at(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&totp, &code_at(step + 1), now),
            Some(step + 1)
        );
        assert_eq!(matching_step(&totp, &code_at(step + 2), now), None);
        assert_eq!(matching_step(&totp, &code_at(step - 2), now), None);
    }

    #[test]
    fn recovery_codes_are_80_bits_in_four_groups() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3);
        assert_ne!(code, new_recovery_code());
        assert!(!is_totp_code(&normalized(&code)));
        assert_eq!(normalized(" abcd-efgh "), "ABCDEFGH");
    }

    #[test]
    fn the_qr_code_is_an_svg_of_dark_modules() {
        let svg = qr_svg("otpauth://totp/Keywarden:ann%40example.com?secret=ABC").unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("M4,4h1v1h-1z"));
    }
}
