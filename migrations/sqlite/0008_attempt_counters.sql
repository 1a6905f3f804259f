-- Sign-in attempts reserved before a password is checked, per account and per address: an
-- attempt takes a place here first (atomically), so however many arrive at once, no more than the
-- limit reach the password hash. A successful attempt gives its place back.
CREATE TABLE attempt_counters (
    scope        TEXT    PRIMARY KEY,
    window_start TEXT NOT NULL,
    used         INTEGER NOT NULL
);
