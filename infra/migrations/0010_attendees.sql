-- Attendees: buyers who sign in by e-mail link (docs/accounts.md §Attendees),
-- owned by the accounts worker. A kind of account apart from organizers' own
-- tables, so an attendee session can never be found where an organizer's is
-- looked up. Secrets are stored as SHA-256 digests only. (Numbered 0010 so it
-- does not collide with the device pairing and API key migration.)
CREATE TABLE attendees (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL UNIQUE,  -- normalized: trimmed, lower-cased
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE attendee_sessions (
    id_hash      bytea PRIMARY KEY,
    attendee_id  bigint NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attendee_sessions_attendee ON attendee_sessions (attendee_id);

-- Sign-in links: one per request, whether or not the address has orders.
CREATE TABLE attendee_links (
    token_hash bytea PRIMARY KEY,
    email      text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- An attendee's orders are those confirmed with its address, in any case.
CREATE INDEX orders_email ON orders (lower(email)) WHERE email IS NOT NULL;
