-- Polls and quizzes of a session, their ballots and the events' word block lists
-- (docs/engagement.md §Polls), owned by the engagement worker.
CREATE TABLE polls (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    session_id   bigint NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
    question     text NOT NULL CHECK (length(question) BETWEEN 1 AND 500),
    kind         text NOT NULL
                 CHECK (kind IN ('single', 'multiple', 'rating', 'words', 'ranking', 'quiz')),
    options      jsonb NOT NULL DEFAULT '[]',
    results      text NOT NULL DEFAULT 'live' CHECK (results IN ('live', 'on_close')),
    correct      int,
    time_limit_s int,
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'open', 'closed')),
    revealed     boolean NOT NULL DEFAULT false,
    opened_at    timestamptz,
    closed_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'quiz') = (correct IS NOT NULL AND time_limit_s IS NOT NULL))
);
CREATE INDEX polls_by_event ON polls (event_id, id);
CREATE INDEX polls_by_session ON polls (session_id, id);
-- Open quizzes, for closing them when their time is up.
CREATE INDEX polls_open_quizzes ON polls (opened_at) WHERE kind = 'quiz' AND status = 'open';

-- One ballot per voter (a token's `sub`) per poll: the unique key decides `already_voted`.
-- `score` is a quiz answer's points (protocol/polls.quiz_score), 0 otherwise.
CREATE TABLE poll_ballots (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    poll_id    bigint NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    voter      text NOT NULL,
    choice     jsonb NOT NULL,
    score      int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT poll_ballots_once UNIQUE (poll_id, voter)
);

-- Words refused in word-cloud answers, normalised (protocol/polls.normalize_word).
CREATE TABLE poll_blocklists (
    event_id   bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    words      text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
