-- Ticket allocation (docs/allocation.md): seat maps, holds, orders, waiting
-- lists, and the change feed behind the `event.{id}.seats` channel.

-- Every change to a seat or a general-admission counter takes the next value,
-- while holding that row's lock: so one seat's (or counter's) versions grow in
-- the order its changes commit, which is what clients compare (protocol/seats.py).
CREATE SEQUENCE seat_version;

-- One row per event that allocates: the map's version (bumped when sections
-- are added, which tells subscribers to fetch a new snapshot) and the event's
-- hold settings. No row: the defaults.
CREATE TABLE allocations (
    event_id    bigint  PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    map_version integer NOT NULL DEFAULT 0,
    hold_ttl_s  integer NOT NULL DEFAULT 600 CHECK (hold_ttl_s BETWEEN 10 AND 86400),
    hold_limit  integer NOT NULL DEFAULT 10 CHECK (hold_limit BETWEEN 1 AND 1000),
    warn_s      integer NOT NULL DEFAULT 60 CHECK (warn_s BETWEEN 0 AND 3600),
    changed_xid xid8
);

CREATE TABLE seat_sections (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name     text   NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    UNIQUE (event_id, name)
);

CREATE TABLE seat_rows (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    section_id bigint NOT NULL REFERENCES seat_sections (id) ON DELETE CASCADE,
    name       text   NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    UNIQUE (section_id, name)
);

-- A hold: seats (seat_ids, and seats.hold_id while held) or a quantity of a
-- general-admission type, until it is confirmed, released or expires.
CREATE TABLE holds (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       bigint   NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    owner_sub      text     NOT NULL,
    nonce          text,
    ticket_type_id bigint,  -- general admission: the type held; seat holds: NULL
    quantity       integer  NOT NULL CHECK (quantity > 0),
    seat_ids       bigint[] NOT NULL DEFAULT '{}',
    amount_minor   bigint   NOT NULL CHECK (amount_minor >= 0),
    currency       char(3)  NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    state          text     NOT NULL DEFAULT 'active'
                            CHECK (state IN ('active', 'released', 'expired', 'confirmed')),
    expires_at     timestamptz NOT NULL,
    warn_at        timestamptz NOT NULL,
    warned         boolean  NOT NULL DEFAULT false,
    waitlist_id    bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    UNIQUE (event_id, owner_sub, nonce)
);

CREATE INDEX holds_expiry ON holds (expires_at) WHERE state = 'active';
CREATE INDEX holds_warn ON holds (warn_at) WHERE state = 'active' AND NOT warned;
CREATE INDEX holds_owner ON holds (event_id, owner_sub) WHERE state IN ('active', 'confirmed');

-- Seats, in map order by id (one map call takes a contiguous block of ids).
-- hold_id and ticket_id are checked by the worker, not by foreign keys: a key
-- check per seat update would lock the hold row the sweeper and confirm lock.
CREATE TABLE seats (
    id             bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       bigint  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    section_id     bigint  NOT NULL,
    row_id         bigint  NOT NULL REFERENCES seat_rows (id) ON DELETE CASCADE,
    position       integer NOT NULL CHECK (position > 0),
    label          text    NOT NULL CHECK (length(label) BETWEEN 1 AND 16),
    ticket_type_id bigint,
    status         text    NOT NULL DEFAULT 'available'
                           CHECK (status IN ('available', 'held', 'sold')),
    hold_id        bigint,
    ticket_id      bigint  UNIQUE,
    version        bigint  NOT NULL DEFAULT 0,
    changed_xid    xid8,   -- the transaction that last changed it (the feed's cursor)
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id),
    UNIQUE (row_id, position),
    CHECK (status <> 'available' OR (hold_id IS NULL AND ticket_id IS NULL)),
    CHECK (status <> 'held' OR (hold_id IS NOT NULL AND ticket_id IS NULL)),
    CHECK (status <> 'sold' OR ticket_id IS NOT NULL)
);

CREATE INDEX seats_event ON seats (event_id, id);
CREATE INDEX seats_held ON seats (hold_id) WHERE status = 'held';
CREATE INDEX seats_changed ON seats (changed_xid) WHERE changed_xid IS NOT NULL;
CREATE INDEX seats_free_by_type ON seats (ticket_type_id, id) WHERE status = 'available';
CREATE INDEX seats_free_by_section ON seats (section_id, id) WHERE status = 'available';

-- Ticket types that have seats; the others are general admission (quota).
CREATE TABLE seated_types (
    ticket_type_id bigint PRIMARY KEY REFERENCES ticket_types (id) ON DELETE CASCADE,
    event_id       bigint NOT NULL
);

-- General admission: places held and sold per type; its row lock serializes
-- the type's holds, and the CHECK is the last word on the quota (a copy of the
-- type's quota, which no command changes).
CREATE TABLE ga_counters (
    ticket_type_id bigint  PRIMARY KEY REFERENCES ticket_types (id) ON DELETE CASCADE,
    event_id       bigint  NOT NULL,
    quota          integer CHECK (quota IS NULL OR quota >= 0),
    held           integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    sold           integer NOT NULL DEFAULT 0 CHECK (sold >= 0),
    version        bigint  NOT NULL DEFAULT 0,
    changed_xid    xid8,
    CHECK (quota IS NULL OR held + sold <= quota)
);

CREATE INDEX ga_counters_changed ON ga_counters (changed_xid) WHERE changed_xid IS NOT NULL;
CREATE INDEX allocations_changed ON allocations (changed_xid) WHERE changed_xid IS NOT NULL;

-- A confirmed hold. Payment is out of scope: the order records what is owed.
CREATE TABLE orders (
    id           bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hold_id      bigint   NOT NULL UNIQUE REFERENCES holds (id) ON DELETE CASCADE,
    event_id     bigint   NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    owner_sub    text     NOT NULL,
    amount_minor bigint   NOT NULL CHECK (amount_minor >= 0),
    currency     char(3)  NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    ticket_ids   bigint[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Waiting lists: per ticket type or per section, first come first offered.
CREATE TABLE waitlist (
    id             bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       bigint  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    owner_sub      text    NOT NULL,
    ticket_type_id bigint,
    section_id     bigint,
    quantity       integer NOT NULL CHECK (quantity > 0),
    state          text    NOT NULL DEFAULT 'waiting'
                           CHECK (state IN ('waiting', 'offered', 'skipped')),
    hold_id        bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (ticket_type_id IS NOT NULL OR section_id IS NOT NULL)
);

CREATE UNIQUE INDEX waitlist_once ON waitlist
    (event_id, owner_sub, COALESCE(ticket_type_id, 0), COALESCE(section_id, 0))
    WHERE state = 'waiting';
CREATE INDEX waitlist_line ON waitlist (event_id, id) WHERE state = 'waiting';

-- The seats feed's cursor: the snapshot of the last published tick. A change
-- is published by the tick whose snapshot is the first to see it.
CREATE TABLE seat_feed (
    id        integer     PRIMARY KEY CHECK (id = 1),
    snapshot  pg_snapshot NOT NULL,
    ticked_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO seat_feed (id, snapshot) VALUES (1, pg_current_snapshot());
