-- Keywarden schema, SQLite. Table and column names follow the seed's.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           TEXT    NOT NULL UNIQUE,
    hashed_password TEXT    NOT NULL,
    is_active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TEXT    NOT NULL
);

CREATE TABLE api_keys (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    encrypted_api_key    TEXT    NOT NULL,
    encrypted_secret_key TEXT    NOT NULL,
    api_key_masked       TEXT    NOT NULL,
    label                TEXT,
    is_valid             BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    last_validated_at    TEXT,
    key_type             TEXT    NOT NULL DEFAULT 'hmac',
    environment          TEXT    NOT NULL DEFAULT 'mainnet',
    permissions          TEXT    NOT NULL DEFAULT '{}',
    trading_expires_at   TEXT
);

CREATE TABLE bot_configs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key_id INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    symbol     TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE INDEX bot_configs_api_key_id ON bot_configs (api_key_id);
