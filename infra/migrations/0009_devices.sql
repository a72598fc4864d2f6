-- Paired door devices and their one-time pairing codes (docs/accounts.md
-- §Door devices), owned by the accounts worker. A code is stored as its
-- SHA-256 only. `scans` and `last_seen_at` are added to in batches by the
-- check-in worker (workers/device_usage.py), never once per scan.
CREATE TABLE device_pairings (
    code_hash  bytea PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event_id   bigint NOT NULL,
    gates      text[],    -- NULL: every gate of the event
    name       text NOT NULL,
    created_by bigint REFERENCES accounts (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- `id` is the device's token `sub` (`device-{id}`); `token_expires_at` is when
-- its token ends, so a revocation is kept exactly as long as it can matter.
CREATE TABLE devices (
    id               bigserial PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event_id         bigint NOT NULL,
    gates            text[],
    name             text NOT NULL,
    created_by       bigint REFERENCES accounts (id) ON DELETE SET NULL,
    paired_at        timestamptz NOT NULL DEFAULT now(),
    token_expires_at timestamptz NOT NULL,
    last_seen_at     timestamptz,
    scans            bigint NOT NULL DEFAULT 0,
    revoked_at       timestamptz
);
CREATE INDEX devices_org ON devices (org_id, id);
