-- Q&A of sessions (docs/engagement.md §Q&A), owned by the qa worker.
-- Whether an event's questions wait for an organizer's approval before anyone sees them.
CREATE TABLE qa_settings (
    event_id         bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    require_approval boolean NOT NULL DEFAULT false
);

-- `asker` is NULL for an anonymous question: who asked is never stored, so no
-- read (an organizer's included) can reveal it. `votes` is the number of rows
-- in question_upvotes, kept by the same transactions that add and remove them.
CREATE TABLE questions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    session_id bigint NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
    text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
    asker      text CHECK (length(asker) BETWEEN 1 AND 64),
    state      text NOT NULL CHECK (state IN ('pending', 'visible', 'hidden')),
    answered   boolean NOT NULL DEFAULT false,
    pinned     boolean NOT NULL DEFAULT false,
    votes      integer NOT NULL DEFAULT 0 CHECK (votes >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX questions_by_session ON questions (session_id, pinned DESC, votes DESC, id);

-- One upvote per attendee (a token's `sub`) per question: the primary key makes it so.
CREATE TABLE question_upvotes (
    question_id bigint NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    attendee    text NOT NULL,
    PRIMARY KEY (question_id, attendee)
);

-- Sessions whose visible list changed and is not yet published (workers/qa_feed.py):
-- written in the transaction that changed it, taken by the next feed tick.
CREATE TABLE qa_dirty (
    session_id bigint PRIMARY KEY REFERENCES event_sessions (id) ON DELETE CASCADE,
    event_id   bigint NOT NULL
);

-- When the feed last published: however many workers tick, lists go out at most
-- once per tick interval.
CREATE TABLE qa_feed (
    id           integer PRIMARY KEY CHECK (id = 1),
    published_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO qa_feed (id) VALUES (1);
