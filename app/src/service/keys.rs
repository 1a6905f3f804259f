use super::{Caller, Keywarden, ServiceError};
use crate::exchange::{Account, KeyPair};
use crate::model::{ApiKeyView, BalanceView, NewApiKey};
use crate::store::{ApiKeyRow, NewApiKeyRow, is_unique_violation};

const MAX_KEY_CHARS: usize = 512;
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

fn credential<'a>(field: &str, value: &'a str) -> Result<&'a str, ServiceError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ServiceError::Invalid(format!("{field}: must not be empty")));
    }
    if value.chars().count() > MAX_KEY_CHARS {
        return Err(ServiceError::Invalid(format!(
            "{field}: must be at most {MAX_KEY_CHARS} characters"
        )));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
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

fn api_key_view(row: ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: row.id,
        label: row.label,
        api_key_masked: row.api_key_masked,
        is_valid: row.is_valid,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_validated_at: row.last_validated_at,
    }
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
        let api_key = credential("api_key", &input.api_key)?;
        let secret_key = credential("secret_key", &input.secret_key)?;
        let label = label(input.label.as_deref())?;
        let parts = &self.inner;
        if parts
            .store
            .find_api_key_of_user(caller.user_id)
            .await?
            .is_some()
        {
            return Err(ServiceError::ApiKeyExists);
        }
        let pair = KeyPair {
            api_key,
            secret_key,
        };
        parts.exchange.account(&pair, self.now()).await?;
        let row = NewApiKeyRow {
            user_id: caller.user_id,
            encrypted_api_key: &parts.vault.encrypt(api_key),
            encrypted_secret_key: &parts.vault.encrypt(secret_key),
            api_key_masked: &mask_api_key(api_key),
            label,
        };
        match parts.store.insert_api_key(row, self.now()).await {
            Ok(row) => {
                tracing::info!(user_id = caller.user_id, key_id = row.id, "api key stored");
                Ok(api_key_view(row))
            }
            // Another request stored a key for this user while Binance was answering.
            Err(e) if is_unique_violation(&e) => Err(ServiceError::ApiKeyExists),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_api_key(&self, caller: &Caller) -> Result<ApiKeyView, ServiceError> {
        self.stored_key(caller).await.map(api_key_view)
    }

    /// Deletes the key and, with it, every bot config that uses it.
    pub async fn delete_api_key(&self, caller: &Caller) -> Result<(), ServiceError> {
        if !self
            .inner
            .store
            .delete_api_key_of_user(caller.user_id)
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
        let is_valid = match self.read_account(&row).await {
            Ok(_) => true,
            Err(ServiceError::BinanceRejected { code, .. }) if KEY_REFUSED.contains(&code) => false,
            Err(other) => return Err(other),
        };
        tracing::info!(user_id = caller.user_id, is_valid, "api key revalidated");
        self.inner
            .store
            .record_validation(caller.user_id, is_valid, self.now())
            .await?
            .map(api_key_view)
            .ok_or(ServiceError::ApiKeyNotFound)
    }

    async fn stored_key(&self, caller: &Caller) -> Result<ApiKeyRow, ServiceError> {
        self.inner
            .store
            .find_api_key_of_user(caller.user_id)
            .await?
            .ok_or(ServiceError::ApiKeyNotFound)
    }

    /// Decrypts the stored pair for this one call; the plaintexts are dropped on return.
    async fn read_account(&self, row: &ApiKeyRow) -> Result<Account, ServiceError> {
        let vault = &self.inner.vault;
        let undecryptable = |e| ServiceError::internal("decrypting a stored key", e);
        let api_key = vault
            .decrypt(&row.encrypted_api_key)
            .map_err(undecryptable)?;
        let secret_key = vault
            .decrypt(&row.encrypted_secret_key)
            .map_err(undecryptable)?;
        let pair = KeyPair {
            api_key: api_key.expose(),
            secret_key: secret_key.expose(),
        };
        Ok(self.inner.exchange.account(&pair, self.now()).await?)
    }

    /// The account's non-zero balances, read live from Binance with the stored key.
    pub async fn balance(&self, caller: &Caller) -> Result<BalanceView, ServiceError> {
        let row = self.stored_key(caller).await?;
        let account = self.read_account(&row).await?;
        let balances = account
            .balances
            .into_iter()
            .filter(|b| !is_zero(&b.free) || !is_zero(&b.locked))
            .collect();
        Ok(BalanceView { balances })
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
        assert!(credential("api_key", "  ").is_err());
        assert!(credential("api_key", "ab cd").is_err());
        assert_eq!(credential("api_key", " abc ").unwrap(), "abc");
        assert_eq!(label(Some("  ")).unwrap(), None);
        assert!(label(Some(&"x".repeat(101))).is_err());
        assert_eq!(label(Some(" main ")).unwrap(), Some("main"));
    }
}
