-- A bot config is a bot's identity and policy; its tokens are how the bot calls the gateway.
ALTER TABLE bot_configs ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
-- A decimal string in the symbol's quote asset; NULL: no limit.
ALTER TABLE bot_configs ADD COLUMN max_order_notional TEXT;
-- Comma-separated Binance order types.
ALTER TABLE bot_configs ADD COLUMN order_types TEXT NOT NULL DEFAULT 'LIMIT,LIMIT_MAKER,MARKET';
ALTER TABLE bot_configs ADD COLUMN orders_per_minute BIGINT NOT NULL DEFAULT 60;

-- The account's emergency stop: while set, no bot of the account trades.
ALTER TABLE users ADD COLUMN bots_paused_at TIMESTAMPTZ;

-- Only a token's SHA-256 is kept; `prefix` is what the owner sees of it.
CREATE TABLE bot_tokens (
    id            BIGSERIAL   PRIMARY KEY,
    bot_config_id BIGINT      NOT NULL REFERENCES bot_configs (id) ON DELETE CASCADE,
    name          TEXT,
    prefix        TEXT        NOT NULL,
    token_hash    TEXT        NOT NULL UNIQUE,
    -- The key's environment when the token was issued: a key replaced by one of the other
    -- environment ends the token.
    environment   TEXT        NOT NULL,
    -- Comma-separated addresses and networks (CIDR); NULL: any.
    allowed_ips   TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    last_ip       TEXT
);

CREATE INDEX bot_tokens_bot_config_id ON bot_tokens (bot_config_id);

-- Which bot an event concerns. No foreign key: an event outlives its bot.
ALTER TABLE audit_events ADD COLUMN bot_config_id BIGINT;
