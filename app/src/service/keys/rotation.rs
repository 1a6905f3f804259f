//! Re-encryption of stored keys under the primary Fernet key (`keywarden rotate-keys`).

use super::refused_ciphertext;
use crate::service::audit::{Action, ClientInfo};
use crate::service::{Keywarden, ServiceError};
use crate::store::{Reencrypted, SealedSecrets, StoredCiphertexts};
use crate::vault::{Field, Owner, new_row_version};

/// What one batch of `rotate_batch` did.
#[derive(Clone, Debug, Default)]
pub struct RotatedBatch {
    pub read: usize,
    pub rewritten: u64,
    pub last_id: i64,
    /// The keys whose ciphertexts could not be opened (each logged), left as they are.
    pub unreadable: Vec<i64>,
}

impl Keywarden {
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
        let mut unreadable = Vec::new();
        for before in rows {
            let id = before.id;
            match self.reencrypt(before) {
                Ok(reencrypted) => batch.push(reencrypted),
                Err(_) => unreadable.push(id),
            }
        }
        let client = ClientInfo::keywarden("rotate-keys");
        let event = self.event(&client, Action::KeyRotate);
        let rewritten = store.write_reencrypted(&batch, &event).await?;
        Ok(RotatedBatch {
            read,
            rewritten,
            last_id,
            unreadable,
        })
    }

    fn reencrypt(&self, before: StoredCiphertexts) -> Result<Reencrypted, ServiceError> {
        let vault = &self.inner.vault;
        let key_id = before.encryption_key_id.as_deref();
        let version = new_row_version();
        let reseal = |field, token: &str| {
            let owner = |version| Owner {
                user_id: before.user_id,
                field,
                version,
            };
            let secret = vault
                .open(owner(before.version), token, key_id)
                .map_err(|e| refused_ciphertext(before.id, e))?;
            Ok::<_, ServiceError>(vault.seal(owner(version), secret.expose()))
        };
        let api_key = reseal(Field::ApiKey, &before.encrypted_api_key)?;
        let secret_key = reseal(Field::SecretKey, &before.encrypted_secret_key)?;
        Ok(Reencrypted {
            before,
            encrypted_api_key: api_key.token,
            encrypted_secret_key: secret_key.token,
            encryption_key_id: api_key.key_id,
            version,
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

    /// Re-encrypts every secret of `kind` not yet under the primary Fernet key (part of
    /// `keywarden rotate-keys`). Returns how many were rewritten, and the rows whose secret
    /// could not be read (each logged), left as they are.
    pub async fn rotate_sealed_secrets(
        &self,
        kind: SealedSecrets,
    ) -> Result<(u64, Vec<i64>), ServiceError> {
        const BATCH: i64 = 100;
        let (vault, store) = (&self.inner.vault, &self.inner.store);
        let primary = vault.primary_key_id();
        let (mut after_id, mut rewritten, mut unreadable) = (0, 0, Vec::new());
        loop {
            let rows = store
                .sealed_not_under(kind, primary, after_id, BATCH)
                .await?;
            let Some(last) = rows.last() else {
                return Ok((rewritten, unreadable));
            };
            after_id = last.id;
            for row in rows {
                let owner = Owner::unversioned(row.user_id, kind.field());
                let opened = vault.open(owner, &row.encrypted_secret, Some(&row.encryption_key_id));
                let secret = match opened {
                    Ok(secret) => secret,
                    Err(err) => {
                        tracing::error!(id = row.id, "{}: {err}", kind.name());
                        unreadable.push(row.id);
                        continue;
                    }
                };
                let sealed = vault.seal(owner, secret.expose());
                let replaced = store
                    .reseal(
                        kind,
                        row.id,
                        &row.encrypted_secret,
                        &sealed.token,
                        &sealed.key_id,
                    )
                    .await?;
                rewritten += u64::from(replaced);
            }
        }
    }
}
