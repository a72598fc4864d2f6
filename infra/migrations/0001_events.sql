-- Events belong to an organization (the `org` claim of tokens).
CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      text        NOT NULL CHECK (org_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    timezone    text        NOT NULL,
    locale      text        NOT NULL,
    currency    char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);

CREATE INDEX events_org_starts ON events (org_id, starts_at, id);

-- Domain events as recorded by the audit worker from the JetStream event log;
-- (stream, seq) makes redelivery idempotent.
CREATE TABLE domain_events (
    stream      text        NOT NULL,
    seq         bigint      NOT NULL,
    kind        text        NOT NULL,
    event_id    bigint,
    payload     jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, seq)
);

CREATE INDEX domain_events_event ON domain_events (event_id, occurred_at);

-- Transactional outbox: domain events written in the same transaction as the
-- change, published to JetStream after commit (infra/outbox.py).
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind text       NOT NULL,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
