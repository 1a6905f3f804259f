-- A bot's order attempts are numbered as they are written, so the attempts of its last minute
-- are its latest number less the number of the first attempt in that minute: two index probes,
-- where counting them read one index entry for each (on PostgreSQL also each row, to tell it
-- visible), as many as 600 for a bot at its limit. Events written before this have no number,
-- and are no longer counted a minute after it.
ALTER TABLE bot_configs ADD COLUMN orders_attempted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN attempt_number INTEGER;
