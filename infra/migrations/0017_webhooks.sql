-- Webhooks (docs/webhooks.md), owned by the webhooks worker: organizers'
-- HTTPS endpoints, one delivery per (webhook, domain event), and every attempt.
--
-- `secret` is kept as given out: each attempt is signed with it (HMAC needs the
-- key itself, unlike API keys, which are kept as a hash). `failures` counts
-- consecutive failed attempts; reaching BILTEN_WEBHOOK_PAUSE_AFTER pauses the
-- endpoint until `webhooks.resume`.
CREATE TABLE webhooks (
    id          bigserial PRIMARY KEY,
    org_id      text NOT NULL CHECK (org_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    url         text NOT NULL,
    kinds       text[] NOT NULL CHECK (cardinality(kinds) > 0),
    event_id    bigint,  -- NULL: every event of the organization (no foreign key: a
                         -- deleted event's `events.deleted` is still delivered)
    description text,
    secret      text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    failures    integer NOT NULL DEFAULT 0,
    paused_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_org ON webhooks (org_id, id);

-- One row per (webhook, domain event): `source` is the event's message id, so a
-- redelivered event is recorded once. `next_attempt_at` is also the lease of a
-- claimed delivery: a worker that dies mid-attempt leaves it due again later.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    source          text NOT NULL,
    kind            text NOT NULL,
    event_id        bigint,
    body            text NOT NULL,  -- the exact JSON every attempt signs and sends
    status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,  -- NULL once delivered or failed
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, source)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

-- The attempt log: one row per attempt made, whatever its outcome.
CREATE TABLE webhook_attempts (
    id              bigserial PRIMARY KEY,
    delivery_id     bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    response_code   integer,
    response_body   text,
    duration_ms     integer NOT NULL,
    error           text,
    next_attempt_at timestamptz,  -- when it is tried again; NULL: no retry
    at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (delivery_id, attempt)
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, id);
