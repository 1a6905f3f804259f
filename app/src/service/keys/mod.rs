//! The user's Binance key: added and replaced only after Binance accepts it, stored encrypted,
//! renamed, read for balances, deleted with its bot configs. Input checks live in `input`,
//! what the owner sees in `view`, re-checks with Binance in `validation`, re-encryption in
//! `rotation`.

mod input;
mod rotation;
mod validation;
mod view;

pub use input::mask_api_key;
pub use rotation::RotatedBatch;
pub use validation::PAUSED_FOR_FUNDS;

use input::{MAX_KEY_CHARS, MAX_SECRET_CHARS, credential, label};
use view::validation;

use super::audit::Action;
use super::{Caller, Keywarden, ServiceError};
use crate::exchange::{Balance, KeyCheck, KeyPair, Signer};
use crate::model::{
    ApiKeyView, AssetBalance, BalanceView, Environment, KeyLabel, NewApiKey, Permissions,
};
use crate::store::{ApiKeyRow, SealedKey, StoreError, StoredCiphertexts};
use crate::vault::{Field, Owner, VaultError, new_row_version};

impl Keywarden {
    /// Checks the pair with Binance, and only then stores it encrypted.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        input: NewApiKey,
    ) -> Result<ApiKeyView, ServiceError> {
        self.within_binance_quota(caller.user_id)?;
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
        if caller.key.is_some() {
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
                Ok(self.key_view(row))
            }
            // Another request stored a key for this user while Binance was answering.
            Err(StoreError::Unique) => Err(ServiceError::ApiKeyExists),
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
        self.require_step_up(caller)?;
        self.within_binance_quota(caller.user_id)?;
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
        Self::stored_key(caller)?;
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
        Ok(self.key_view(row))
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
            .map(|row| self.key_view(row))
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
        let validation = validation(&check);
        self.refuse_moving_funds(&validation.permissions)?;
        let vault = &self.inner.vault;
        let version = new_row_version();
        let owner = |field| Owner {
            user_id: caller.user_id,
            field,
            version,
        };
        let api_key_sealed = vault.seal(owner(Field::ApiKey), api_key);
        let secret_key_sealed = vault.seal(owner(Field::SecretKey), secret_key);
        Ok(SealedKey {
            encrypted_api_key: api_key_sealed.token,
            encrypted_secret_key: secret_key_sealed.token,
            encryption_key_id: api_key_sealed.key_id,
            version,
            api_key_masked: mask_api_key(api_key),
            key_type: signer.key_type(),
            environment: input.environment,
            validation,
        })
    }

    /// Asks Binance about the key; when Binance does not know it, one read-only probe of the
    /// other environment tells a testnet key sent to mainnet (or the reverse) from a bad key.
    async fn check_with_exchange(
        &self,
        environment: Environment,
        pair: &KeyPair<'_>,
    ) -> Result<KeyCheck, ServiceError> {
        let exchange = &self.inner.exchange;
        match exchange.check_key(environment, pair, self.now()).await {
            Ok(check) => Ok(check),
            Err(err) if err.may_be_other_environment() => {
                let other = environment.other();
                if exchange.account(other, pair, self.now()).await.is_ok() {
                    return Err(ServiceError::WrongEnvironment {
                        given: environment,
                        right: other,
                    });
                }
                Err(err.into())
            }
            Err(other) => Err(other.into()),
        }
    }

    pub async fn get_api_key(&self, caller: &Caller) -> Result<ApiKeyView, ServiceError> {
        Self::stored_key(caller)
            .cloned()
            .map(|row| self.key_view(row))
    }

    /// Deletes the key and, with it, every bot config that uses it.
    pub async fn delete_api_key(&self, caller: &Caller) -> Result<(), ServiceError> {
        self.require_step_up(caller)?;
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

    /// Refuses a key that can move funds out of the account, unless the operator allows such
    /// keys.
    pub(super) fn refuse_moving_funds(
        &self,
        permissions: &Permissions,
    ) -> Result<(), ServiceError> {
        let moving_funds = permissions.moving_funds();
        if moving_funds.is_empty() || self.inner.allow_withdrawal_keys {
            return Ok(());
        }
        Err(ServiceError::MovesFunds {
            withdrawals: permissions.withdrawals == Some(true),
            named: moving_funds.join(", "),
        })
    }

    fn stored_key(caller: &Caller) -> Result<&ApiKeyRow, ServiceError> {
        caller.key.as_ref().ok_or(ServiceError::ApiKeyNotFound)
    }

    /// Decrypts the stored pair for this one call; the plaintexts are dropped on return.
    pub(super) async fn with_stored_pair<T>(
        &self,
        stored: &StoredCiphertexts,
        call: impl AsyncFnOnce(KeyPair<'_>) -> T,
    ) -> Result<T, ServiceError> {
        let open = |field, token: &str| {
            let owner = Owner {
                user_id: stored.user_id,
                field,
                version: stored.version,
            };
            self.inner
                .vault
                .open(owner, token, stored.encryption_key_id.as_deref())
                .map_err(|e| refused_ciphertext(stored.id, e))
        };
        let api_key = open(Field::ApiKey, &stored.encrypted_api_key)?;
        let secret_key = open(Field::SecretKey, &stored.encrypted_secret_key)?;
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
        let row = Self::stored_key(caller)?;
        self.within_binance_quota(caller.user_id)?;
        let result = self.read_balance(row).await;
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
        let account = self
            .with_stored_pair(&row.ciphertexts(), async |pair| {
                self.inner
                    .exchange
                    .account(row.environment, &pair, self.now())
                    .await
            })
            .await??;
        let balances = account
            .balances
            .into_iter()
            .filter(|b| !is_zero(&b.free) || !is_zero(&b.locked))
            .map(
                |Balance {
                     asset,
                     free,
                     locked,
                 }| AssetBalance {
                    asset,
                    free,
                    locked,
                },
            )
            .collect();
        Ok(BalanceView {
            balances,
            environment: row.environment,
            updated_at: self.now(),
        })
    }
}

/// A stored ciphertext the vault refuses: logged loudly with its row, never its content.
fn refused_ciphertext(api_key_id: i64, err: VaultError) -> ServiceError {
    tracing::error!(api_key_id, "refusing a stored credential: {err}");
    ServiceError::StoredKeyUnreadable
}

/// Binance sends amounts as decimal strings such as "0.00000000".
fn is_zero(amount: &str) -> bool {
    amount.chars().all(|c| c == '0' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_amounts_are_recognised() {
        assert!(is_zero("0.00000000"));
        assert!(is_zero("0"));
        assert!(!is_zero("0.00000001"));
        assert!(!is_zero("12.5"));
    }
}
