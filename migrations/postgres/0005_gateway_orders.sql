-- What an order event was about (bot, symbol, side, type, quantity, price, client order id,
-- Binance's order id and code), as JSON.
ALTER TABLE audit_events ADD COLUMN detail TEXT;

-- A bot's order rate is counted from its recent order events.
CREATE INDEX audit_events_bot_config_id ON audit_events (bot_config_id, action, created_at);
