-- Alerts: what a user is told about (a key turned invalid, every bot paused...), each kept
-- once and sent to the user's webhooks through a queue that survives restarts.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The id receivers see (`evt_...`).
    public_id   TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type        TEXT    NOT NULL,
    -- The payload's `data`, as JSON. Never a secret.
    data        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    -- Set for an alert that must be raised once however often (or by however many instances)
    -- its cause is seen.
    once_key    TEXT    UNIQUE
);

CREATE INDEX alerts_user_id ON alerts (user_id, id);

CREATE TABLE webhooks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url               TEXT    NOT NULL,
    -- Comma-separated event types.
    events            TEXT    NOT NULL,
    -- The signing secret, Fernet-encrypted, and the id of the key that encrypted it.
    encrypted_secret  TEXT    NOT NULL,
    encryption_key_id TEXT    NOT NULL,
    created_at        TEXT    NOT NULL
);

CREATE INDEX webhooks_user_id ON webhooks (user_id);

-- One alert to one destination: a webhook, or the user's email address. Each destination's
-- deliveries (its `queue`: `webhook:<id>` or `email:<user id>`) go out in id order: the next
-- waits until the one before it is delivered or given up.
CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    -- NULL for an email.
    webhook_id      INTEGER REFERENCES webhooks (id) ON DELETE CASCADE,
    queue           TEXT    NOT NULL,
    -- pending, delivered or failed (given up).
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    next_attempt_at TEXT    NOT NULL,
    -- An instance sending it holds it until then.
    claimed_until   TEXT   
);

CREATE INDEX alert_deliveries_queue ON alert_deliveries (state, queue, id);
CREATE INDEX alert_deliveries_webhook_id ON alert_deliveries (webhook_id);

-- Every try of a delivery, for the delivery log.
CREATE TABLE delivery_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   INTEGER NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    attempted_at  TEXT    NOT NULL,
    -- The receiver's HTTP status; NULL when none came (refused, timed out).
    response_code INTEGER,
    -- delivered, retrying or failed.
    status        TEXT    NOT NULL,
    -- Why it failed, in words (never the receiver's body).
    error         TEXT
);

CREATE INDEX delivery_attempts_delivery_id ON delivery_attempts (delivery_id);

-- Alerts by email too, when the operator configured SMTP.
ALTER TABLE users ADD COLUMN email_alerts BOOLEAN NOT NULL DEFAULT TRUE;

-- Why every bot is paused, when Keywarden paused them (`key_moves_funds`); NULL when the user
-- did.
ALTER TABLE users ADD COLUMN bots_paused_reason TEXT;
