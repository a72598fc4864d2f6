"""The fan-out benchmark's table: the hub and two baselines side by side, ratios, targets.

Targets are reported, never asserted: machines are noisy, and a benchmark that
fails on a busy laptop teaches nothing. Each row says which way is better so
the ratio columns read the same everywhere (hub/baseline, as measured). The
baselines are `baseline` (aiohttp, `baseline_server.py`) and `picows`
(`picows_server.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Result = dict[str, Any]
BASELINES = ("baseline", "picows")


@dataclass(frozen=True, slots=True)
class Cells:
    """What a target is judged on: the hub's figure, its ratios, and its whole result."""

    hub: float
    aiohttp: float | None  # hub / aiohttp baseline
    picows: float | None  # hub / picows baseline
    result: Result


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: how to read the number from a result, and its target."""

    label: str
    value: Callable[[Result], float]
    digits: int = 0
    target: str = ""
    meets: Callable[[Cells], bool] | None = None


def _phases(result: Result) -> list[Result]:
    return [result[name] for name in ("warmup", "steady", "fixed", "max") if name in result]


def lost(result: Result) -> float:
    """Publications some subscriber never got, across phases, plus failed connects."""
    return float(sum(p["lost"] for p in _phases(result)) + result["connect"]["failed"])


def disorder(result: Result) -> float:
    """Duplicates and out-of-order deliveries seen, across phases."""
    return float(
        sum(
            p["extra"] + p["sampled_duplicates"] + p["sampled_out_of_order"]
            for p in _phases(result)
        )
    )


def _at_most(limit: float) -> Callable[[float | None], bool]:
    return lambda ratio: ratio is not None and ratio <= limit


def connect_rows() -> list[Row]:
    """The connect phase's rows: rate, CPU and idle memory (issue 10's goals as targets)."""
    return [
        Row(
            "connects/s (hub: authenticated)",
            lambda r: r["connect"]["per_s"],
            0,
            ">= 0.9x aiohttp",
            lambda c: c.aiohttp is not None and c.aiohttp >= 0.9,
        ),
        Row(
            "idle RSS per connection (KiB)",
            lambda r: r["connect"]["rss_per_conn_kib"],
            1,
            "<= 14 KiB",
            lambda c: c.hub <= 14,
        ),
        Row(
            "server CPU per connect (ms)",
            lambda r: r["connect"]["server_cpu_ms_per_connect"],
            3,
        ),
        Row("server CPU % while connecting", lambda r: r["connect"]["server_cpu"]["cpu_pct"], 0),
        Row("load generator CPU % connecting", lambda r: r["connect"]["loadgen_cpu"]["cpu_pct"], 0),
        Row(
            "failed connects",
            lambda r: float(r["connect"]["failed"]),
            0,
            "0",
            lambda c: c.hub == 0,
        ),
    ]


def rows(rate: float, steady_rate: float) -> list[Row]:
    """The table's rows (`steady_rate` and `rate`: the two steady phases' publications/s)."""
    light, heavy = f"@ {steady_rate:g}/s", f"@ {rate:g}/s"
    within_cpu, within_p99 = _at_most(1.25), _at_most(1.2)
    return [
        *connect_rows(),
        Row(
            "delivered msgs/s (max phase)",
            lambda r: r["max"]["delivered_per_s"],
            0,
            ">= 3x aiohttp",
            lambda c: c.aiohttp is not None and c.aiohttp >= 3,
        ),
        Row("publications/s (max phase)", lambda r: r["max"]["publications_per_s"], 0),
        Row(f"latency p50 {light} (ms)", lambda r: r["steady"]["p50_ms"], 2),
        Row(
            f"latency p99 {light} (ms)",
            lambda r: r["steady"]["p99_ms"],
            2,
            "<= 1.2x picows",
            lambda c: within_p99(c.picows),
        ),
        Row(
            f"server CPU % {light}",
            lambda r: r["steady"]["server_cpu"]["cpu_pct"],
            1,
            "<= 1.25x picows",
            lambda c: within_cpu(c.picows),
        ),
        Row(f"  of which system {light}", lambda r: r["steady"]["server_cpu"]["sys_pct"], 1),
        Row(f"latency p50 {heavy} (ms)", lambda r: r["fixed"]["p50_ms"], 2),
        Row(
            f"latency p99 {heavy} (ms)",
            lambda r: r["fixed"]["p99_ms"],
            2,
            f"< 2x p99 {light}",
            lambda c: c.hub < 2 * c.result["steady"]["p99_ms"],
        ),
        Row(f"latency max {heavy} (ms)", lambda r: r["fixed"]["max_ms"], 2),
        Row(
            f"server CPU % {heavy}",
            lambda r: r["fixed"]["server_cpu"]["cpu_pct"],
            0,
            "<= 60%",
            lambda c: c.hub <= 60,
        ),
        Row(f"  of which system {heavy}", lambda r: r["fixed"]["server_cpu"]["sys_pct"], 0),
        Row("latency p50 max phase (ms)", lambda r: r["max"]["p50_ms"], 2),
        Row("latency p99 max phase (ms)", lambda r: r["max"]["p99_ms"], 2),
        Row("lost messages (all phases)", lost, 0, "0", lambda c: c.hub == 0),
        Row("duplicates + out of order", disorder, 0, "0", lambda c: c.hub == 0),
        Row(
            "errors/disconnects seen by subscribers",
            lambda r: float(r.get("problems", {}).get("count", 0)),
            0,
            "0",
            lambda c: c.hub == 0,
        ),
        Row("server CPU % max phase", lambda r: r["max"]["server_cpu"]["cpu_pct"], 0),
        Row("  of which system, max phase", lambda r: r["max"]["server_cpu"]["sys_pct"], 0),
        Row(f"load generator CPU % {light}", lambda r: r["steady"]["loadgen_cpu"]["cpu_pct"], 0),
        Row(f"load generator CPU % {heavy}", lambda r: r["fixed"]["loadgen_cpu"]["cpu_pct"], 0),
        Row("load generator CPU % max phase", lambda r: r["max"]["loadgen_cpu"]["cpu_pct"], 0),
    ]


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(hub: float, base: float | None) -> float | None:
    return hub / base if base else None


def render(
    results: dict[str, Result | None],
    rate: float,
    steady_rate: float,
    *,
    connect_only: bool = False,
) -> str:
    """The table as text (Markdown, so it pastes into the README as it is).

    `results` holds "hub" and the baselines by name ("baseline": aiohttp,
    "picows"); a baseline not run is None and shows as "-".
    """
    hub = results["hub"]
    assert hub is not None
    header = ["metric", "hub", "aiohttp", "picows", "hub/aiohttp", "hub/picows", "target", "met"]
    numeric = 6  # columns after the label that are right-aligned
    lines = [header]
    for row in connect_rows() if connect_only else rows(rate, steady_rate):
        h = row.value(hub)
        bases = [row.value(r) if (r := results.get(n)) is not None else None for n in BASELINES]
        ratios = [_ratio(h, b) for b in bases]
        verdict = ""
        if row.meets is not None:
            verdict = "yes" if row.meets(Cells(h, ratios[0], ratios[1], hub)) else "NO"
        lines.append(
            [
                row.label,
                _fmt(h, row.digits),
                *(_fmt(b, row.digits) for b in bases),
                *(f"{x:.2f}x" if x is not None else "-" for x in ratios),
                row.target,
                verdict,
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.ljust(w) if i == 0 or i >= numeric else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("| " + " | ".join(cells) + " |")
        if n == 0:
            out.append(
                "|"
                + "|".join(
                    ("-" * (w + 1) + ":") if 0 < i < numeric else "-" * (w + 2)
                    for i, w in enumerate(widths)
                )
                + "|"
            )
    return "\n".join(out)


SATURATED_PCT = 90.0


def notes(results: dict[str, Result | None]) -> list[str]:
    """Warnings that qualify the table: a saturated load generator measures itself."""
    found = []
    for server, result in results.items():
        if result is None:
            continue
        for phase in ("steady", "fixed", "max"):
            if phase not in result:
                continue
            pct = result[phase]["loadgen_cpu"]["cpu_pct"]
            if pct >= SATURATED_PCT:
                found.append(
                    f"note: the load generator used {pct:.0f}% of its core in the "
                    f"{server} {phase} phase; that number is a lower bound"
                )
    return found


def ratio_row(
    label: str,
    hub: float | None,
    base: float | None,
    target: str = "",
    *,
    label_width: int = 36,
    target_width: int = 14,
) -> str:
    """One table row: a figure for the hub, the same for the baseline, and their ratio."""

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f}"

    ratio = f"{hub / base:.2f}x" if hub is not None and base else "-"
    return (
        f"| {label:{label_width}} | {fmt(hub):>9} | {fmt(base):>9} | {ratio:>8} "
        f"| {target:{target_width}} |"
    )


def ratio_header(*, label_width: int = 36, target_width: int = 14) -> str:
    """The two header lines of a table of `ratio_row`s with the same widths."""
    head = (
        f"| {'metric':{label_width}} | {'batched':>9} | {'baseline':>9} | {'ratio':>8} "
        f"| {'target':{target_width}} |"
    )
    rule = "|" + "|".join("-" * (w + 2) for w in (label_width, 9, 9, 8, target_width)) + "|"
    return f"{head}\n{rule}"
