-- One row per sign-in: a browser session (its cookie's secret stored hashed) or an API session
-- (a family of refresh tokens). Revoking the row ends every token of the session at once.
CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    secret_hash  TEXT,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    revoked_at   TEXT,
    ip           TEXT,
    user_agent   TEXT
);

CREATE INDEX sessions_user_id ON sessions (user_id);

-- Refresh tokens, stored as SHA-256 hashes; each is used once, and a used one presented again
-- revokes its session.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    used_at    TEXT
);

CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- Sign-in and registration throttling counts recent events by account and by address.
CREATE INDEX audit_events_throttle_user ON audit_events (user_id, action, created_at);
CREATE INDEX audit_events_throttle_ip ON audit_events (ip, action, created_at);
