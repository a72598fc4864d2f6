-- API keys for integrations (docs/accounts.md §API keys), owned by the
-- accounts worker. The secret is stored as its SHA-256 only; `last_used_at`
-- is written when a hub resolves the key, at most once a key per hub per
-- cache period, never once per request.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    org_id       text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('organizer', 'staff', 'attendee')),
    events       bigint[],  -- NULL: every event of the organization
    secret_hash  bytea NOT NULL,
    created_by   bigint REFERENCES accounts (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);
