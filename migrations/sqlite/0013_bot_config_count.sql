-- A key's number of bot configs, kept on its row: every read of a key (GET /me among them) used
-- to count its bot configs. The triggers keep it exact in the transaction that adds or deletes a
-- bot config, whichever way it goes (a key's delete cascades to its bots, and then there is no
-- row left to update).
ALTER TABLE api_keys ADD COLUMN bot_config_count INTEGER NOT NULL DEFAULT 0;
UPDATE api_keys SET bot_config_count =
    (SELECT COUNT(*) FROM bot_configs b WHERE b.api_key_id = api_keys.id);

CREATE TRIGGER bot_configs_counted_on_insert AFTER INSERT ON bot_configs
BEGIN
    UPDATE api_keys SET bot_config_count = bot_config_count + 1 WHERE id = NEW.api_key_id;
END;

CREATE TRIGGER bot_configs_counted_on_delete AFTER DELETE ON bot_configs
BEGIN
    UPDATE api_keys SET bot_config_count = bot_config_count - 1 WHERE id = OLD.api_key_id;
END;
