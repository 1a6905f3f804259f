use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::audit::{Action, ClientInfo};
use super::{Caller, Keywarden, ServiceError};
use crate::exchange::{ExchangeError, KeyCheck, KeyPair, Signer};
use crate::model::{
    ApiKeyView, BalanceView, Environment, KeyLabel, KeyType, NewApiKey, Permissions, Warning,
};
use crate::store::{
    ApiKeyRow, DueForValidation, Reencrypted, SealedKey, StoredCiphertexts, Validation,
    is_unique_violation,
};
use crate::vault::{Field, Owner, VaultError};

const MAX_KEY_CHARS: usize = 512;
/// An RSA-4096 private key in PEM is about 3,300 characters.
const MAX_SECRET_CHARS: usize = 8_192;
const MAX_LABEL_CHARS: usize = 100;

/// The first 4 characters, 8 asterisks, the last 4, whatever the key's length; keys too short
/// to keep 8 characters hidden show only asterisks.
pub fn mask_api_key(api_key: &str) -> String {
    let chars: Vec<char> = api_key.chars().collect();
    if chars.len() < 16 {
        return "*".repeat(8);
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}********{tail}")
}

/// A trimmed credential of at most `max_chars`, without spaces or control characters; a PEM
/// private key keeps its line breaks.
fn credential<'a>(field: &str, value: &'a str, max_chars: usize) -> Result<&'a str, ServiceError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ServiceError::Invalid(format!("{field}: must not be empty")));
    }
    if value.chars().count() > max_chars {
        return Err(ServiceError::Invalid(format!(
            "{field}: must be at most {max_chars} characters"
        )));
    }
    let pem = value.starts_with("-----BEGIN");
    let allowed = |c: char| pem && matches!(c, '\n' | '\r' | ' ' | '\t');
    if value
        .chars()
        .any(|c| (c.is_whitespace() || c.is_control()) && !allowed(c))
    {
        return Err(ServiceError::Invalid(format!(
            "{field}: must not contain spaces or control characters"
        )));
    }
    Ok(value)
}

fn label(label: Option<&str>) -> Result<Option<&str>, ServiceError> {
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if let Some(l) = label {
        if l.chars().count() > MAX_LABEL_CHARS {
            return Err(ServiceError::Invalid(format!(
                "label: must be at most {MAX_LABEL_CHARS} characters"
            )));
        }
        if l.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "label: must not contain control characters".into(),
            ));
        }
    }
    Ok(label)
}

impl ApiKeyRow {
    fn environment(&self) -> Environment {
        Environment::parse(&self.environment).unwrap_or_default()
    }
}

fn api_key_view(row: ApiKeyRow) -> ApiKeyView {
    let environment = row.environment();
    let permissions: Permissions = serde_json::from_str(&row.permissions).unwrap_or_default();
    let key_type = match row.key_type.as_str() {
        "ed25519" => KeyType::Ed25519,
        "rsa" => KeyType::Rsa,
        _ => KeyType::Hmac,
    };
    ApiKeyView {
        warnings: warnings(environment, &permissions, row.trading_expires_at),
        id: row.id,
        label: row.label,
        api_key_masked: row.api_key_masked,
        is_valid: row.is_valid,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_validated_at: row.last_validated_at,
        key_type,
        environment,
        permissions,
        trading_expires_at: row.trading_expires_at,
        bot_config_count: row.bot_config_count,
    }
}

/// What the user should know about an accepted key.
fn warnings(
    environment: Environment,
    permissions: &Permissions,
    trading_expires_at: Option<DateTime<Utc>>,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if environment == Environment::Mainnet && !permissions.ip_restricted {
        warnings.push(Warning {
            code: "no_ip_restriction".into(),
            detail: "This key works from any IP address. Restrict it to this server's IP in \
                     Binance's API management: a leaked key is then useless elsewhere, and \
                     Binance keeps its trading permission."
                .into(),
        });
    }
    if !permissions.spot_trading {
        warnings.push(Warning {
            code: "no_spot_trading".into(),
            detail: "This key cannot trade: bots using it can read balances but place no \
                     orders. Enable spot trading for it in Binance's API management."
                .into(),
        });
    }
    if let Some(at) = trading_expires_at {
        warnings.push(Warning {
            code: "trading_expires".into(),
            detail: format!(
                "Binance removes spot trading from this key on {} because it has no IP \
                 restriction.",
                at.date_naive()
            ),
        });
    }
    warnings
}

/// Binance codes that mean the stored pair no longer works (deleted, disabled, malformed,
/// or its secret no longer matches).
const KEY_REFUSED: [i64; 3] = [-2015, -2014, -1022];

impl Keywarden {
    /// Checks the pair with Binance, and only then stores it encrypted.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        input: NewApiKey,
    ) -> Result<ApiKeyView, ServiceError> {
        let result = self.try_create_api_key(caller, input).await;
        self.record_failure(caller, Action::KeyCreate, &result)
            .await;
        result
    }

    async fn try_create_api_key(
        &self,
        caller: &Caller,
        input: NewApiKey,
    ) -> Result<ApiKeyView, ServiceError> {
        let label = label(input.label.as_deref())?;
        let store = &self.inner.store;
        if store.find_api_key_of_user(caller.user_id).await?.is_some() {
            return Err(ServiceError::ApiKeyExists);
        }
        let sealed = self.seal_verified_key(caller, &input).await?;
        let event = self.event(&caller.client, Action::KeyCreate);
        match store
            .insert_api_key(caller.user_id, label, &sealed, &event)
            .await
        {
            Ok(row) => {
                tracing::info!(user_id = caller.user_id, key_id = row.id, "api key stored");
                Ok(api_key_view(row))
            }
            // Another request stored a key for this user while Binance was answering.
            Err(e) if is_unique_violation(&e) => Err(ServiceError::ApiKeyExists),
            Err(e) => Err(e.into()),
        }
    }

    /// Swaps in a new pair (after Binance accepts it), keeping the key's id and its bot
    /// configs; on any failure the old pair stays. A missing label keeps the current one.
    pub async fn replace_api_key(
        &self,
        caller: &Caller,
        input: NewApiKey,
    ) -> Result<ApiKeyView, ServiceError> {
        let result = self.try_replace_api_key(caller, input).await;
        self.record_failure(caller, Action::KeyReplace, &result)
            .await;
        result
    }

    async fn try_replace_api_key(
        &self,
        caller: &Caller,
        input: NewApiKey,
    ) -> Result<ApiKeyView, ServiceError> {
        let label = label(input.label.as_deref())?;
        self.stored_key(caller).await?;
        let sealed = self.seal_verified_key(caller, &input).await?;
        let event = self.event(&caller.client, Action::KeyReplace);
        let row = self
            .inner
            .store
            .replace_api_key(caller.user_id, label, &sealed, &event)
            .await?
            .ok_or(ServiceError::ApiKeyNotFound)?;
        tracing::info!(
            user_id = caller.user_id,
            key_id = row.id,
            "api key replaced"
        );
        Ok(api_key_view(row))
    }

    pub async fn rename_api_key(
        &self,
        caller: &Caller,
        input: KeyLabel,
    ) -> Result<ApiKeyView, ServiceError> {
        let label = label(input.label.as_deref())?;
        let event = self.event(&caller.client, Action::KeyRename);
        self.inner
            .store
            .rename_api_key(caller.user_id, label, &event)
            .await?
            .map(api_key_view)
            .ok_or(ServiceError::ApiKeyNotFound)
    }

    /// Checks a submitted pair with Binance and encrypts it; nothing is written here.
    async fn seal_verified_key(
        &self,
        caller: &Caller,
        input: &NewApiKey,
    ) -> Result<SealedKey, ServiceError> {
        let api_key = credential("api_key", &input.api_key, MAX_KEY_CHARS)?;
        let secret_key = credential("secret_key", &input.secret_key, MAX_SECRET_CHARS)?;
        let signer =
            Signer::from_secret(secret_key).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let pair = KeyPair {
            api_key,
            signer: &signer,
        };
        let check = self.check_with_exchange(input.environment, &pair).await?;
        if check.permissions.withdrawals && !self.inner.allow_withdrawal_keys {
            return Err(ServiceError::WithdrawalsEnabled);
        }
        let vault = &self.inner.vault;
        let owner = |field| Owner {
            user_id: caller.user_id,
            field,
        };
        let api_key_sealed = vault.seal(owner(Field::ApiKey), api_key);
        let secret_key_sealed = vault.seal(owner(Field::SecretKey), secret_key);
        Ok(SealedKey {
            encrypted_api_key: api_key_sealed.token,
            encrypted_secret_key: secret_key_sealed.token,
            encryption_key_id: api_key_sealed.key_id,
            api_key_masked: mask_api_key(api_key),
            key_type: key_type_name(signer.key_type()),
            environment: input.environment.as_str(),
            validation: validation(true, &check),
        })
    }

    /// Asks Binance about the key; after a -2015, one read-only probe of the other environment
    /// tells a testnet key sent to mainnet (or the reverse) from a bad key.
    async fn check_with_exchange(
        &self,
        environment: Environment,
        pair: &KeyPair<'_>,
    ) -> Result<KeyCheck, ServiceError> {
        let exchange = &self.inner.exchange;
        match exchange.check_key(environment, pair, self.now()).await {
            Ok(check) => Ok(check),
            Err(ExchangeError::Rejected {
                code: -2015,
                message,
            }) => {
                let other = environment.other();
                if exchange.account(other, pair, self.now()).await.is_ok() {
                    return Err(ServiceError::WrongEnvironment {
                        given: environment,
                        right: other,
                    });
                }
                Err(ServiceError::BinanceRejected {
                    code: -2015,
                    message,
                })
            }
            Err(other) => Err(other.into()),
        }
    }

    pub async fn get_api_key(&self, caller: &Caller) -> Result<ApiKeyView, ServiceError> {
        self.stored_key(caller).await.map(api_key_view)
    }

    /// Deletes the key and, with it, every bot config that uses it.
    pub async fn delete_api_key(&self, caller: &Caller) -> Result<(), ServiceError> {
        let event = self.event(&caller.client, Action::KeyDelete);
        if !self
            .inner
            .store
            .delete_api_key_of_user(caller.user_id, &event)
            .await?
        {
            return Err(ServiceError::ApiKeyNotFound);
        }
        tracing::info!(user_id = caller.user_id, "api key deleted");
        Ok(())
    }

    /// Asks Binance about the stored key now and records the answer: a key Binance refuses is
    /// marked invalid, not deleted. Faults (unreachable, rate limits, timeouts) change nothing.
    pub async fn validate_api_key(&self, caller: &Caller) -> Result<ApiKeyView, ServiceError> {
        let row = self.stored_key(caller).await?;
        let result = self.try_validate_api_key(caller, &row).await;
        if let Err(err) = &result {
            self.record(
                &caller.client,
                Some(caller.user_id),
                Some(row.id),
                Action::KeyValidate,
                Err(err),
            )
            .await;
        }
        result
    }

    async fn try_validate_api_key(
        &self,
        caller: &Caller,
        row: &ApiKeyRow,
    ) -> Result<ApiKeyView, ServiceError> {
        let environment = row.environment();
        let outcome = self
            .with_stored_pair(row, async |pair| {
                self.inner
                    .exchange
                    .check_key(environment, &pair, self.now())
                    .await
            })
            .await?;
        let mut event = self.event(&caller.client, Action::KeyValidate);
        let validation = match outcome {
            Ok(check) => validation(true, &check),
            Err(ExchangeError::Rejected { code, .. }) if KEY_REFUSED.contains(&code) => {
                event.outcome = "failure";
                event.error_code = Some("binance_rejected");
                Validation {
                    is_valid: false,
                    permissions: row.permissions.clone(),
                    trading_expires_at: row.trading_expires_at,
                }
            }
            Err(other) => return Err(other.into()),
        };
        tracing::info!(
            user_id = caller.user_id,
            is_valid = validation.is_valid,
            "api key revalidated"
        );
        self.inner
            .store
            .record_validation(caller.user_id, &validation, &event)
            .await?
            .map(api_key_view)
            .ok_or(ServiceError::ApiKeyNotFound)
    }

    /// Re-checks, `concurrency` at a time, up to `batch` keys last checked more than `every`
    /// ago (and keys about to lose trading, hourly). Safe with several instances: each key is
    /// claimed by one. Returns how many were checked.
    pub async fn revalidate_due_keys(
        &self,
        every: Duration,
        batch: i64,
        concurrency: usize,
    ) -> Result<usize, ServiceError> {
        let now = self.now();
        let due = DueForValidation {
            checked_before: now - every,
            expiring_before: now + Duration::days(1),
            expiry_checked_before: now - Duration::hours(1),
        };
        let store = &self.inner.store;
        let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut checks = JoinSet::new();
        for user_id in store.keys_due_for_validation(&due, batch).await? {
            if !store.claim_validation(user_id, &due, now).await? {
                continue;
            }
            let permit = semaphore.clone().acquire_owned().await;
            let keywarden = self.clone();
            checks.spawn(async move {
                let _permit = permit;
                let caller = Caller {
                    user_id,
                    session_id: String::new(),
                    client: ClientInfo::keywarden("scheduled check"),
                };
                if let Err(err) = keywarden.validate_api_key(&caller).await {
                    tracing::warn!(user_id, "background key check failed: {err}");
                }
            });
        }
        let mut checked = 0;
        while checks.join_next().await.is_some() {
            checked += 1;
        }
        Ok(checked)
    }

    async fn stored_key(&self, caller: &Caller) -> Result<ApiKeyRow, ServiceError> {
        self.inner
            .store
            .find_api_key_of_user(caller.user_id)
            .await?
            .ok_or(ServiceError::ApiKeyNotFound)
    }

    /// Decrypts the stored pair for this one call; the plaintexts are dropped on return.
    async fn with_stored_pair<T>(
        &self,
        row: &ApiKeyRow,
        call: impl AsyncFnOnce(KeyPair<'_>) -> T,
    ) -> Result<T, ServiceError> {
        let open = |field, token: &str| {
            let owner = Owner {
                user_id: row.user_id,
                field,
            };
            self.inner
                .vault
                .open(owner, token, row.encryption_key_id.as_deref())
                .map_err(|e| refused_ciphertext(row.id, e))
        };
        let api_key = open(Field::ApiKey, &row.encrypted_api_key)?;
        let secret_key = open(Field::SecretKey, &row.encrypted_secret_key)?;
        let signer = Signer::from_secret(secret_key.expose())
            .map_err(|e| ServiceError::internal("a stored secret", e))?;
        let pair = KeyPair {
            api_key: api_key.expose(),
            signer: &signer,
        };
        Ok(call(pair).await)
    }

    /// The account's non-zero balances, read live from Binance with the stored key.
    pub async fn balance(&self, caller: &Caller) -> Result<BalanceView, ServiceError> {
        let row = self.stored_key(caller).await?;
        let result = self.read_balance(&row).await;
        let outcome = result.as_ref().map(|_| ());
        self.record(
            &caller.client,
            Some(caller.user_id),
            Some(row.id),
            Action::KeyUse,
            outcome,
        )
        .await;
        result
    }

    async fn read_balance(&self, row: &ApiKeyRow) -> Result<BalanceView, ServiceError> {
        let environment = row.environment();
        let account = self
            .with_stored_pair(row, async |pair| {
                self.inner
                    .exchange
                    .account(environment, &pair, self.now())
                    .await
            })
            .await??;
        let balances = account
            .balances
            .into_iter()
            .filter(|b| !is_zero(&b.free) || !is_zero(&b.locked))
            .collect();
        Ok(BalanceView {
            balances,
            environment,
            updated_at: self.now(),
        })
    }

    /// Re-encrypts up to `limit` keys (by id, after `after_id`) that are not yet under the
    /// primary Fernet key, in one transaction with one event per key. Returns how many rows
    /// were read (0 when done), how many rewritten, and the last id read.
    pub async fn rotate_batch(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<RotatedBatch, ServiceError> {
        let vault = &self.inner.vault;
        let store = &self.inner.store;
        let primary = vault.primary_key_id();
        let rows = store.keys_not_under(primary, after_id, limit).await?;
        let Some(last_id) = rows.last().map(|r| r.id) else {
            return Ok(RotatedBatch::default());
        };
        let read = rows.len();
        let mut batch = Vec::with_capacity(read);
        for before in rows {
            batch.push(self.reencrypt(before)?);
        }
        let client = ClientInfo::keywarden("rotate-keys");
        let event = self.event(&client, Action::KeyRotate);
        let rewritten = store.write_reencrypted(&batch, &event).await?;
        Ok(RotatedBatch {
            read,
            rewritten,
            last_id,
        })
    }

    fn reencrypt(&self, before: StoredCiphertexts) -> Result<Reencrypted, ServiceError> {
        let vault = &self.inner.vault;
        let key_id = before.encryption_key_id.as_deref();
        let reseal = |field, token: &str| {
            let owner = Owner {
                user_id: before.user_id,
                field,
            };
            let secret = vault
                .open(owner, token, key_id)
                .map_err(|e| refused_ciphertext(before.id, e))?;
            Ok::<_, ServiceError>(vault.seal(owner, secret.expose()))
        };
        let api_key = reseal(Field::ApiKey, &before.encrypted_api_key)?;
        let secret_key = reseal(Field::SecretKey, &before.encrypted_secret_key)?;
        Ok(Reencrypted {
            before,
            encrypted_api_key: api_key.token,
            encrypted_secret_key: secret_key.token,
            encryption_key_id: api_key.key_id,
        })
    }

    /// How many keys are not yet encrypted with the primary Fernet key.
    pub async fn keys_to_rotate(&self) -> Result<i64, ServiceError> {
        let primary = self.inner.vault.primary_key_id();
        Ok(self.inner.store.count_keys_not_under(primary).await?)
    }

    pub fn primary_key_id(&self) -> &str {
        self.inner.vault.primary_key_id()
    }
}

/// What one batch of `rotate_batch` did.
#[derive(Clone, Copy, Debug, Default)]
pub struct RotatedBatch {
    pub read: usize,
    pub rewritten: u64,
    pub last_id: i64,
}

/// A stored ciphertext the vault refuses: logged loudly with its row, never its content.
fn refused_ciphertext(api_key_id: i64, err: VaultError) -> ServiceError {
    tracing::error!(api_key_id, "refusing a stored credential: {err}");
    ServiceError::StoredKeyUnreadable
}

fn key_type_name(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::Hmac => "hmac",
        KeyType::Ed25519 => "ed25519",
        KeyType::Rsa => "rsa",
    }
}

fn validation(is_valid: bool, check: &KeyCheck) -> Validation {
    Validation {
        is_valid,
        permissions: serde_json::to_string(&check.permissions).unwrap_or_else(|_| "{}".into()),
        trading_expires_at: check.trading_expires_at,
    }
}

/// Binance sends amounts as decimal strings such as "0.00000000".
fn is_zero(amount: &str) -> bool {
    amount.chars().all(|c| c == '0' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_4_and_4_whatever_the_length() {
        let key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
        assert_eq!(mask_api_key(key), "vmPU********Eh8A");
        assert_eq!(mask_api_key("abcdefghijklmnop"), "abcd********mnop");
        assert_eq!(mask_api_key("short"), "********");
    }

    #[test]
    fn zero_amounts_are_recognised() {
        assert!(is_zero("0.00000000"));
        assert!(is_zero("0"));
        assert!(!is_zero("0.00000001"));
        assert!(!is_zero("12.5"));
    }

    #[test]
    fn credentials_and_labels_are_checked() {
        assert!(credential("api_key", "  ", 10).is_err());
        assert!(credential("api_key", "ab cd", 10).is_err());
        assert!(credential("api_key", "abcdefghijk", 10).is_err());
        assert_eq!(credential("api_key", " abc ", 10).unwrap(), "abc");
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert_eq!(credential("secret_key", pem, 100).unwrap(), pem);
        assert_eq!(label(Some("  ")).unwrap(), None);
        assert!(label(Some(&"x".repeat(101))).is_err());
        assert_eq!(label(Some(" main ")).unwrap(), Some("main"));
    }
}
