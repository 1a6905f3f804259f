-- Which Fernet key made a row's ciphertexts; NULL for the seed's bare tokens.
ALTER TABLE api_keys ADD COLUMN encryption_key_id TEXT;

-- The append-only record of what happened to each account and its key. No foreign keys: an
-- event outlives the key (and the account) it names.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER,
    action      TEXT    NOT NULL,
    api_key_id  INTEGER,
    outcome     TEXT    NOT NULL,
    error_code  TEXT,
    ip          TEXT,
    user_agent  TEXT,
    created_at  TEXT    NOT NULL
);

CREATE INDEX audit_events_user_id ON audit_events (user_id, id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
