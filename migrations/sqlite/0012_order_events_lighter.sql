-- Every order event was written into five b-trees. Two of them served no order: nothing reads
-- events by address any more, and the per-account throttle counts sign-in and password
-- events, which have no bot. An order event now updates the table and two indexes (by user
-- for the Activity page, by bot for its order rate): a third fewer pages to each commit.
DROP INDEX audit_events_throttle_ip;
DROP INDEX audit_events_throttle_user;
CREATE INDEX audit_events_throttle_user ON audit_events (user_id, action, created_at)
    WHERE bot_config_id IS NULL;
