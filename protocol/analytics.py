"""Analytics rules: the metrics, the stats queries' parameters, and the series they answer.

docs/insight.md §Analytics. Pure: the analytics worker applies these to every
stats query (protocol/analytics_facts.py says what each domain event adds);
tests check them without a server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from bilten.protocol.errors import BadMetric, BadRange, BadStep
from bilten.protocol.params import parse_time

Metric = Literal["scans", "entries", "sales", "revenue", "inside", "votes"]
METRICS: tuple[Metric, ...] = get_args(Metric)
STEPS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600}  # step name -> seconds
DEFAULT_STEP = "1m"
DEFAULT_POINTS = 60  # an event's series without `from`: the last 60 steps up to `to`
MAX_POINTS = 1440  # a day of minutes, two months of hours
MINUTE_S = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The fact column each metric sums (revenue per currency; inside is entries minus exits).
COLUMN: dict[Metric, str] = {
    "scans": "scans",
    "entries": "entries",
    "sales": "tickets",
    "revenue": "amount",
    "inside": "entries",
    "votes": "votes",
}


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """One event's series: a metric in steps over [start, end), both on step boundaries."""

    event_id: int
    metric: Metric
    step: str
    start: datetime
    end: datetime

    @property
    def step_s(self) -> int:
        """The step in seconds."""
        return STEPS[self.step]

    def points(self) -> list[datetime]:
        """The start of every step, oldest first."""
        count = int((self.end - self.start).total_seconds()) // self.step_s
        return [self.start + timedelta(seconds=i * self.step_s) for i in range(count)]


@dataclass(frozen=True, slots=True)
class TotalsQuery:
    """An organization's events compared: a metric's total over [start, end) on minutes."""

    org: str
    metric: Metric
    start: datetime | None
    end: datetime | None


def parse_metric(params: Mapping[str, Any]) -> Metric:
    """The `metric` param; `bad_metric` naming the known ones otherwise."""
    metric = params.get("metric")
    for known in METRICS:
        if metric == known:
            return known
    raise BadMetric(f"metric must be one of {', '.join(METRICS)}", metrics=list(METRICS))


def parse_step(params: Mapping[str, Any]) -> str:
    """The `step` param (1m by default); `bad_step` naming the known ones otherwise."""
    step = params.get("step", DEFAULT_STEP)
    if not isinstance(step, str) or step not in STEPS:
        raise BadStep(f"step must be one of {', '.join(STEPS)}", steps=list(STEPS))
    return step


def floor_to(moment: datetime, seconds: int) -> datetime:
    """The step boundary at or before `moment` (steps count from the Unix epoch, in UTC)."""
    elapsed = math.floor((moment.astimezone(UTC) - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


def ceil_to(moment: datetime, seconds: int) -> datetime:
    """The step boundary at or after `moment`."""
    floor = floor_to(moment, seconds)
    return floor if floor == moment else floor + timedelta(seconds=seconds)


def parse_stats_query(params: Mapping[str, Any], event_id: int, now: datetime) -> StatsQuery:
    """An event's stats query: `from` rounded down and `to` up to the step.

    Without `to`, up to now; without `from`, the 60 steps before `to`. `bad_range`
    when `from` is not before `to` or the range holds more than MAX_POINTS steps.
    """
    metric = parse_metric(params)
    step = parse_step(params)
    seconds = STEPS[step]
    raw_to, raw_from = params.get("to"), params.get("from")
    until = now if raw_to is None else parse_time(raw_to, "to")
    end = ceil_to(until, seconds)
    if raw_from is None:
        start = end - timedelta(seconds=seconds * DEFAULT_POINTS)
    else:
        since = parse_time(raw_from, "from")
        _check_order(raw_from, raw_to, since, until)
        start = floor_to(since, seconds)
    points = int((end - start).total_seconds()) // seconds
    if points > MAX_POINTS:
        raise BadRange(
            f"{points} steps of {step} exceed the limit of {MAX_POINTS}; take a longer step",
            reason="too_many_points",
            points=points,
            limit=MAX_POINTS,
        )
    return StatsQuery(event_id, metric, step, start, end)


def parse_totals_query(params: Mapping[str, Any], org: str) -> TotalsQuery:
    """An organization's comparison: `from` rounded down and `to` up to the minute; all
    time when absent."""
    metric = parse_metric(params)
    raw_from, raw_to = params.get("from"), params.get("to")
    since = None if raw_from is None else parse_time(raw_from, "from")
    until = None if raw_to is None else parse_time(raw_to, "to")
    if since is not None and until is not None:
        _check_order(raw_from, raw_to, since, until)
    return TotalsQuery(
        org,
        metric,
        None if since is None else floor_to(since, MINUTE_S),
        None if until is None else ceil_to(until, MINUTE_S),
    )


def _check_order(raw_from: object, raw_to: object, since: datetime, until: datetime) -> None:
    """`bad_range` unless `from` is before `to` (as given, before rounding)."""
    if since >= until:
        raise BadRange(
            f"from ({str(raw_from)[:64]}) must be before to ({str(raw_to)[:64]})",
            reason="from_after_to",
        )


Bucket = tuple[int, str, int]
"""One row of a series query: step start (Unix seconds), currency ('' for counts), value."""


def build_series(query: StatsQuery, rows: Sequence[Bucket], before: int) -> list[dict[str, Any]]:
    """The series of a stats answer: one per currency for revenue (by code), else one.

    `before` is, for `inside`, entries minus exits before the first step: inside
    is cumulative, the people in at the end of each step.
    """
    points = query.points()
    index = {int((p - _EPOCH).total_seconds()): i for i, p in enumerate(points)}
    by_currency: dict[str | None, list[int]] = {}
    if query.metric != "revenue":
        by_currency[None] = [0] * len(points)
    for bucket, code, value in rows:
        slot = index.get(bucket)
        if slot is None:
            continue
        key = code if query.metric == "revenue" else None
        by_currency.setdefault(key, [0] * len(points))[slot] += value
    series = []
    for currency in sorted(by_currency, key=lambda c: c or ""):
        values = by_currency[currency]
        if query.metric == "inside":
            running = before
            values = [running := running + v for v in values]
            total = values[-1] if values else before
        else:
            total = sum(values)
        series.append({"currency": currency, "values": values, "total": total})
    return series


def build_totals(metric: Metric, rows: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """One event's totals: per currency (by code) for revenue, else one with currency null."""
    if metric != "revenue":
        return [{"currency": None, "total": sum(value for _currency, value in rows)}]
    sums: dict[str, int] = {}
    for currency, value in rows:
        sums[currency] = sums.get(currency, 0) + value
    return [{"currency": c, "total": sums[c]} for c in sorted(sums)]


def iso(moment: datetime) -> str:
    """A time as the stats answers give it: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()
