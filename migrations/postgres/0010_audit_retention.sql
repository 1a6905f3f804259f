-- The audit trail stays append-only, but events older than 90 days may be deleted by the
-- operator's retention command (`keywarden prune-audit`); nothing younger can be, by anyone.
DROP TRIGGER audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE FUNCTION audit_events_young_rows_kept() RETURNS trigger AS $$
BEGIN
    IF OLD.created_at > now() - INTERVAL '90 days' THEN
        RAISE EXCEPTION 'audit_events is append-only for 90 days';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_young_rows_kept BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_young_rows_kept();
