-- tickets.issue now takes its places from the general-admission counters, as
-- holds do (workers/tickets.py); before, tickets issued directly were not
-- counted, so a type showed places left that it had already given away. Count
-- every ticket of a general-admission type as sold. A type oversold that way
-- gets its quota raised to what is taken: the counter's CHECK holds, the
-- organizer sees the real number, and nothing more is sold.
INSERT INTO ga_counters (ticket_type_id, event_id, quota)
SELECT t.id, t.event_id, t.quota FROM ticket_types t
WHERE NOT EXISTS (SELECT 1 FROM seated_types s WHERE s.ticket_type_id = t.id)
  AND EXISTS (SELECT 1 FROM tickets k WHERE k.ticket_type_id = t.id)
ON CONFLICT (ticket_type_id) DO NOTHING;

UPDATE ga_counters c
SET sold = n.sold,
    quota = CASE WHEN c.quota IS NULL THEN NULL ELSE greatest(c.quota, c.held + n.sold) END,
    version = nextval('seat_version'), changed_xid = pg_current_xact_id()
FROM (SELECT ticket_type_id, count(*)::int AS sold FROM tickets GROUP BY ticket_type_id) n
WHERE n.ticket_type_id = c.ticket_type_id AND n.sold > c.sold
  AND NOT EXISTS (SELECT 1 FROM seated_types s WHERE s.ticket_type_id = c.ticket_type_id);

UPDATE ticket_types t SET quota = c.quota
FROM ga_counters c
WHERE c.ticket_type_id = t.id AND c.quota IS DISTINCT FROM t.quota;
