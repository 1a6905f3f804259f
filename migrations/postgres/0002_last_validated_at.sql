-- When Binance last confirmed (or refused) the key.
ALTER TABLE api_keys ADD COLUMN last_validated_at TIMESTAMPTZ;
UPDATE api_keys SET last_validated_at = created_at;
