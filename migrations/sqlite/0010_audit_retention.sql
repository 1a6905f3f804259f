-- The audit trail stays append-only, but events older than 90 days may be deleted by the
-- operator's retention command (`keywarden prune-audit`); nothing younger can be, by anyone.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.created_at > strftime('%Y-%m-%dT%H:%M:%S', 'now', '-90 days')
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only for 90 days');
END;
