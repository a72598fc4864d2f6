"""Redis key names, one place, prefixed by the deployment namespace."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key builders; the prefix isolates deployments (and tests) sharing a Redis."""

    prefix: str = "bilten"

    def presence(self, event_id: int) -> str:
        """Sorted set of `user_id|hub_id` members scored by last-seen time."""
        return f"{self.prefix}:presence:{event_id}"

    def mail_sent(self, message_id: str) -> str:
        """`sending` (a lease) or `sent`: whether a mail's Message-ID went out (workers/mail.py)."""
        return f"{self.prefix}:mail:{message_id}"

    def revoked(self) -> str:
        """Sorted set of `org|sub` whose tokens issued until the score (Unix time) are
        revoked (docs/accounts.md §Revocation): written by the accounts worker, read by hubs."""
        return f"{self.prefix}:revoked"

    def signin_failures(self, scope: str, who: str) -> str:
        """Hash of recent sign-in failures (`failures`, `last`) of one account or address."""
        return f"{self.prefix}:signin:{scope}:{who}"

    def reset_mail(self, who: str) -> str:
        """Set while a password reset mail to `who` (a digest) was sent recently."""
        return f"{self.prefix}:reset:{who}"

    def signin_links(self, scope: str, who: str) -> str:
        """Count of attendee sign-in links asked for by one e-mail address (a digest) or
        client address in the current window (workers/accounts_attendees.py)."""
        return f"{self.prefix}:signin-link:{scope}:{who}"

    def pairing_attempts(self, address: str) -> str:
        """Counter of device pairing redemptions from one client address in the current window."""
        return f"{self.prefix}:pairing:{address}"

    def qa_asks(self, event_id: int, sub: str) -> str:
        """Count of questions one attendee asked in an event in the current window
        (workers/qa_limits.py); it never names a question, so anonymity holds."""
        return f"{self.prefix}:qa-asks:{event_id}:{sub}"

    def reactions_sent(self, event_id: int, sub: str) -> str:
        """Count of reactions one attendee sent in an event in the current window."""
        return f"{self.prefix}:reactions-sent:{event_id}:{sub}"

    def reaction_window(self, event_id: int, session_id: int) -> str:
        """Prefix of the hash of one session's reaction counts in one window: the
        window's number is appended (workers/reactions.py)."""
        return f"{self.prefix}:reactions:{event_id}:{session_id}:"

    def reaction_windows(self) -> str:
        """Sorted set of reaction window hashes not yet published, scored by window."""
        return f"{self.prefix}:reactions-open"

    def poll_counts(self, poll_id: int) -> str:
        """Hash of a poll's live counters (protocol/poll_tally.increments), `ok` once built
        from PostgreSQL, `p` the voters last published (workers/poll_counts.py)."""
        return f"{self.prefix}:poll:{poll_id}:counts"

    def poll_counted(self, poll_id: int) -> str:
        """Set of the ballot ids already in a poll's counters: a ballot counts once."""
        return f"{self.prefix}:poll:{poll_id}:counted"

    def polls_changed(self) -> str:
        """Set of `event_id:poll_id` whose state changed since the polls feed last published."""
        return f"{self.prefix}:polls:changed"

    def polls_tick(self) -> str:
        """Set for one tick when a polls feed tick publishes: no worker publishes before it
        expires, so a poll goes out at most once a tick however many workers run."""
        return f"{self.prefix}:polls:tick"

    def dashboard(self, event_id: int) -> str:
        """The event's dashboard as last published (JSON), answered to subscribers
        (workers/metrics.py); rebuilt from PostgreSQL when missing."""
        return f"{self.prefix}:dashboard:{event_id}"

    def dashboard_gate(self, event_id: int) -> str:
        """Set for a second when the event's dashboard is counted: one count, hence at
        most one publication, per second per event across metrics workers."""
        return f"{self.prefix}:dashboard:{event_id}:gate"

    def dashboards_watched(self) -> str:
        """Sorted set of event ids scored with the time they last had news or a subscriber."""
        return f"{self.prefix}:dashboards"

    def pattern(self) -> str:
        """Every key of this namespace (for cleanup in tests and tooling)."""
        return f"{self.prefix}:*"
