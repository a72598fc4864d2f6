-- orders.list and holds.list page through one event's rows by id
-- (workers/purchases.py); without these they walk the primary key across
-- every event's orders and holds.
CREATE INDEX orders_event ON orders (event_id, id);
CREATE INDEX holds_event ON holds (event_id, id);
