-- Which Fernet key made a row's ciphertexts; NULL for the seed's bare tokens.
ALTER TABLE api_keys ADD COLUMN encryption_key_id TEXT;

-- The append-only record of what happened to each account and its key. No foreign keys: an
-- event outlives the key (and the account) it names.
CREATE TABLE audit_events (
    id          BIGSERIAL   PRIMARY KEY,
    user_id     BIGINT,
    action      TEXT        NOT NULL,
    api_key_id  BIGINT,
    outcome     TEXT        NOT NULL,
    error_code  TEXT,
    ip          TEXT,
    user_agent  TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_events_user_id ON audit_events (user_id, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
