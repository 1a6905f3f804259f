-- Each write of a key pair draws a fresh random version, sealed into both halves' envelopes, so
-- an older pair written back over a newer one is refused. 0: written before versions.
ALTER TABLE api_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
