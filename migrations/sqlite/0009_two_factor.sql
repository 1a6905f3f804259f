-- A second factor per account: a TOTP secret (RFC 6238), Fernet-encrypted like a webhook's. The
-- row exists from setup on; the factor is on once a first code confirmed it (enabled_at).
CREATE TABLE two_factor (
    user_id           INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    encrypted_secret  TEXT    NOT NULL,
    encryption_key_id TEXT    NOT NULL,
    created_at        TEXT NOT NULL,
    enabled_at        TEXT,
    -- The newest 30-second step whose code was accepted: a code is never accepted twice.
    last_used_step    INTEGER
);

-- One-time recovery codes, stored as SHA-256 hashes (each is 80 random bits).
CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    used_at   TEXT,
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in whose password was right and whose second factor is awaited; the challenge handed to
-- the client is stored hashed.
CREATE TABLE sign_in_challenges (
    challenge_hash TEXT    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_kind   TEXT    NOT NULL,
    expires_at     TEXT NOT NULL
);

-- When the session last proved a second-factor code (step-up).
ALTER TABLE sessions ADD COLUMN stepped_up_at TEXT;
