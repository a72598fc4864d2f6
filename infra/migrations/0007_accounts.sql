-- Organizer accounts, organizations, memberships, sessions, invitations,
-- password resets and their audit log (docs/accounts.md), owned by the
-- accounts worker. Secrets are stored as SHA-256 digests only: a copy of the
-- database signs no one in.
CREATE TABLE accounts (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- `id` is the `org` claim of tokens: generated, so that signing up never
-- claims an organization an operator's tokens already name.
CREATE TABLE organizations (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    org_id     text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'manager', 'door', 'viewer')),
    events     bigint[],  -- door members: the events they scan at (NULL: all)
    gates      text[],    -- door members: the gates (NULL: all)
    joined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, account_id)
);
CREATE INDEX memberships_account ON memberships (account_id);

CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_account ON sessions (account_id);

-- One-time links: invitations (org, role, limits) and password resets.
CREATE TABLE account_links (
    token_hash bytea PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('invitation', 'password_reset')),
    id         bigserial UNIQUE,
    email      text NOT NULL,
    org_id     text REFERENCES organizations (id) ON DELETE CASCADE,
    role       text,
    events     bigint[],
    gates      text[],
    created_by bigint REFERENCES accounts (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Sign-ins, failures, invitations, role changes, removals. `org_id` NULL: an
-- account's own act (sign-in), shown to the owners of the account's organizations.
CREATE TABLE account_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    org_id     text,
    account_id bigint,
    actor_id   bigint,
    action     text NOT NULL,
    address    text,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX account_audit_org ON account_audit (org_id, id);
CREATE INDEX account_audit_account ON account_audit (account_id, id);
