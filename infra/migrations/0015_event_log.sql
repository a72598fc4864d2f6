-- The event log (docs/insight.md §Event log), written by the persistence worker:
-- every domain event of the JetStream events stream, once, append-only. It
-- takes over the audit worker's `domain_events` and its rows.
--
-- Two keys make a message recorded once whatever happens: (stream, seq), the
-- place JetStream stored it (a redelivery, and the rows recorded before 0015),
-- and `msg_id`, its Nats-Msg-Id (an outbox row that the relay published again
-- after the stream's duplicate window is stored twice by JetStream, under two
-- sequences, and logged once here). NULL for messages published without one.
ALTER TABLE domain_events RENAME TO event_log;
ALTER TABLE event_log RENAME CONSTRAINT domain_events_pkey TO event_log_pkey;
ALTER INDEX domain_events_event RENAME TO event_log_event;
ALTER TABLE event_log ADD COLUMN msg_id text;
ALTER TABLE event_log ADD CONSTRAINT event_log_msg_id UNIQUE (msg_id);

-- Append-only: rows are never changed or removed one by one.
CREATE FUNCTION event_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_append_only();
