-- A bot's order rate counts its recent attempts: with the outcome in the index the count reads
-- only the index (the event's id is in every entry), not one table row per event, which was
-- most of an order's CPU on SQLite.
DROP INDEX audit_events_bot_config_id;
CREATE INDEX audit_events_bot_orders ON audit_events (bot_config_id, action, outcome, created_at);
