-- Door check-in (docs/checkin.md): keys, ticket types, tickets, gates, scans.

-- One Ed25519 key pair per event signs its ticket codes.
CREATE TABLE event_keys (
    event_id    bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    private_key bytea  NOT NULL CHECK (length(private_key) = 32),
    public_key  bytea  NOT NULL CHECK (length(public_key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE events ADD COLUMN allow_reentry boolean NOT NULL DEFAULT true;

CREATE TABLE ticket_types (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name        text   NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    quota       integer CHECK (quota IS NULL OR quota >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, id)
);

CREATE TABLE tickets (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       bigint NOT NULL,
    ticket_type_id bigint NOT NULL,
    holder         text   NOT NULL CHECK (length(holder) BETWEEN 1 AND 200),
    owner_sub      text,
    state          text   NOT NULL DEFAULT 'valid' CHECK (state IN ('valid', 'revoked')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id)
);

CREATE INDEX tickets_event ON tickets (event_id, id);

CREATE TABLE gates (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name     text   NOT NULL CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
    PRIMARY KEY (event_id, name)
);

-- Where each ticket stands; its row lock serializes scans of one ticket.
CREATE TABLE ticket_presence (
    ticket_id  bigint PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    inside     boolean NOT NULL DEFAULT false,
    entries    integer NOT NULL DEFAULT 0,
    last_gate  text,
    last_at    timestamptz
);

-- People inside per event and per gate of entry, kept exact in the scan transaction.
CREATE TABLE inside_counts (
    event_id bigint  NOT NULL,
    gate     text    NOT NULL,
    n        integer NOT NULL DEFAULT 0 CHECK (n >= 0),
    PRIMARY KEY (event_id, gate)
);

-- Every decided scan, online or synced from an offline device.
CREATE TABLE scans (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   bigint NOT NULL,
    nonce      text   NOT NULL,
    ticket_id  bigint,
    gate       text   NOT NULL,
    direction  text   NOT NULL CHECK (direction IN ('in', 'out')),
    status     text   NOT NULL CHECK (status IN ('ok', 'rejected', 'conflict')),
    reason     text,
    scanned_at timestamptz NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    offline    boolean NOT NULL DEFAULT false,
    device     text,
    verdict    jsonb  NOT NULL,
    UNIQUE (event_id, nonce)
);

CREATE INDEX scans_ticket ON scans (ticket_id, scanned_at);
CREATE INDEX scans_conflicts ON scans (event_id, id) WHERE status = 'conflict';
