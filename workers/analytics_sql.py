"""The analytics SQL: one text for embedded ClickHouse (chdb) and a server alike.

docs/insight.md §Analytics. Two tables in the namespace's database:

- `facts`: one row per counted domain event (protocol/analytics_facts.py `Fact`), a
  ReplacingMergeTree keyed by event, minute and the fact's id (a fact's time
  never changes, so the minute only lets a recomputation read its minutes
  alone) and versioned by the original's stream sequence. A redelivered or
  replayed copy is the same row again; a revised verdict is the same key at a
  later version. Until ClickHouse merges them, copies sit side by side: every
  read says `FINAL`, which keeps the newest of each key.
- `minutes`: the per-minute rollup every stats query reads, one row per
  event, minute and currency ('' for everything but order amounts), a
  ReplacingMergeTree too. After each batch the worker recomputes the minutes
  it touched from `facts FINAL` (`recompute`), so a duplicate never counts
  twice. Its version is the sum of the versions of the facts it was computed
  from: facts are only ever added or raised to a later version, so a
  recomputation that saw more of them has the larger sum, and of two
  recomputations running at once (two workers sharing a server) at least one
  saw both batches, since each inserted before it counted.

Every value in a statement is an int, a time formatted here, or JSON encoded
by orjson after an `INSERT … FORMAT JSONEachRow` line: nothing a caller sends is
spliced into the text. The database name is the namespace, which settings
restrict to `[a-z][a-z0-9_]*`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import orjson

from bilten.protocol.analytics import COLUMN, Metric
from bilten.protocol.analytics_facts import Fact

_FACT_COLUMNS = (
    "id, event_id, version, at, kind, scans, entries, exits, tickets, amount, currency, votes"
)


def schema(db: str) -> list[str]:
    """The database and both tables, created when missing."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        f"""CREATE TABLE IF NOT EXISTS {db}.facts (
            id String,
            event_id UInt64,
            version UInt64,
            at DateTime64(3, 'UTC'),
            kind LowCardinality(String),
            scans UInt8,
            entries UInt8,
            exits UInt8,
            tickets UInt32,
            amount Int64,
            currency LowCardinality(String),
            votes UInt8
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (event_id, toStartOfMinute(at), id)""",
        f"""CREATE TABLE IF NOT EXISTS {db}.minutes (
            event_id UInt64,
            minute DateTime('UTC'),
            currency LowCardinality(String),
            scans UInt64,
            entries UInt64,
            exits UInt64,
            tickets UInt64,
            amount Int64,
            votes UInt64,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (event_id, minute, currency)""",
    ]


def insert_facts(db: str, facts: Sequence[Fact]) -> str:
    """One INSERT of every fact of a batch."""
    lines = b"\n".join(orjson.dumps(fact.to_row()) for fact in facts)
    return f"INSERT INTO {db}.facts ({_FACT_COLUMNS}) FORMAT JSONEachRow\n" + lines.decode()


def _time(moment: datetime) -> str:
    return f"toDateTime('{moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}', 'UTC')"


def _ids(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in sorted(set(values)))


def recompute(db: str, minutes: Iterable[tuple[int, datetime]]) -> str:
    """Rebuild the rollup rows of these (event, minute) pairs from the facts."""
    pairs = ", ".join(f"({int(e)}, {_time(m)})" for e, m in sorted(set(minutes)))
    return f"""INSERT INTO {db}.minutes
        SELECT event_id, toStartOfMinute(at) AS minute, currency, sum(scans), sum(entries),
            sum(exits), sum(tickets), sum(amount), sum(votes), sum(version)
        FROM {db}.facts FINAL
        WHERE (event_id, toStartOfMinute(at)) IN ({pairs})
        GROUP BY event_id, minute, currency"""


def recompute_event(db: str, event_id: int) -> str:
    """Rebuild every rollup row of an event from its facts (after a rebuild)."""
    return f"""INSERT INTO {db}.minutes
        SELECT event_id, toStartOfMinute(at) AS minute, currency, sum(scans), sum(entries),
            sum(exits), sum(tickets), sum(amount), sum(votes), sum(version)
        FROM {db}.facts FINAL
        WHERE event_id = {int(event_id)}
        GROUP BY event_id, minute, currency"""


def drop_event(db: str, event_id: int, up_to_version: int) -> list[str]:
    """Delete an event's facts up to a version (those a replay re-sends) and its rollup."""
    return [
        f"ALTER TABLE {db}.facts DELETE WHERE event_id = {int(event_id)}"
        f" AND version <= {int(up_to_version)} SETTINGS mutations_sync = 2",
        f"ALTER TABLE {db}.minutes DELETE WHERE event_id = {int(event_id)}"
        " SETTINGS mutations_sync = 2",
    ]


def _value(metric: Metric) -> str:
    """The rollup expression a metric sums; signed, as inside goes down with exits."""
    if metric == "inside":
        return "toInt64(sum(entries)) - toInt64(sum(exits))"
    return f"toInt64(sum({COLUMN[metric]}))"


def _currency(metric: Metric) -> str:
    """Revenue keeps its currencies apart; every other metric adds all rows up."""
    return "currency" if metric == "revenue" else "''"


def _only_sales(metric: Metric) -> str:
    return " AND currency != ''" if metric == "revenue" else ""


def series(
    db: str, metric: Metric, event_id: int, step_s: int, start: datetime, end: datetime
) -> str:
    """An event's metric per step over [start, end): rows of bucket, currency, value."""
    return f"""SELECT toInt64(toUnixTimestamp(toStartOfInterval(minute, INTERVAL {int(step_s)}
            SECOND))) AS bucket, {_currency(metric)} AS currency, {_value(metric)} AS value
        FROM {db}.minutes FINAL
        WHERE event_id = {int(event_id)} AND minute >= {_time(start)} AND minute < {_time(end)}
            {_only_sales(metric)}
        GROUP BY bucket, currency ORDER BY bucket, currency"""


def before(db: str, metric: Metric, event_id: int, start: datetime) -> str:
    """An event's metric before `start` (for inside: who was in when the series begins)."""
    return f"""SELECT {_value(metric)} AS value FROM {db}.minutes FINAL
        WHERE event_id = {int(event_id)} AND minute < {_time(start)}"""


def totals(
    db: str, metric: Metric, event_ids: Iterable[int], start: datetime | None, end: datetime | None
) -> str:
    """Events' totals over [start, end) (inside: at `end`, whatever `start`)."""
    where = [f"event_id IN ({_ids(event_ids)})"]
    if start is not None and metric != "inside":
        where.append(f"minute >= {_time(start)}")
    if end is not None:
        where.append(f"minute < {_time(end)}")
    return f"""SELECT event_id, {_currency(metric)} AS currency, {_value(metric)} AS value
        FROM {db}.minutes FINAL WHERE {" AND ".join(where)}{_only_sales(metric)}
        GROUP BY event_id, currency ORDER BY event_id, currency"""
