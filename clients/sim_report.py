"""The report of a simulated day: a JSON document and a self-contained HTML page.

The HTML draws its charts as inline SVG (no script, no stylesheet or font
from elsewhere), so it opens anywhere, offline, as it was written.
docs/simulate.md §Report says what each figure means.
"""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from bilten.clients.sim_driver import DayResult
from bilten.clients.sim_plan import DayPlan
from bilten.clients.sim_stats import LATENCIES, SERIES, DayStats

COLOURS = {"sales": "#1f77b4", "scans": "#2ca02c", "votes": "#d62728", "deliveries": "#9467bd"}
WIDTH, HEIGHT, PAD = 720, 240, 40


def build_report(plan: DayPlan, stats: DayStats, result: DayResult) -> dict[str, Any]:
    """The JSON document: configuration, figures, errors, series and the truths."""
    truths = [
        {
            "name": t.name,
            "expected": t.expected,
            "unknown": t.unknown,
            "observed": t.observed,
            "holds": t.holds,
        }
        for t in result.truths
    ]
    return {
        "config": asdict(plan.config),
        "event_id": result.event_id,
        "seconds": round(stats.elapsed(), 3),
        "connections": {"peak": stats.peak_connections},
        "messages": {
            "sent": stats.sent,
            "received": stats.received,
            "per_s": round(stats.messages_per_s(), 1),
        },
        "latency_ms": {
            kind: {
                "count": len(stats.latencies_ms[kind]),
                "p50": _round(stats.p(kind, 0.50)),
                "p99": _round(stats.p(kind, 0.99)),
            }
            for kind in LATENCIES
        },
        "outcomes": dict(sorted(stats.outcomes.items())),
        "errors": dict(sorted(stats.errors.items())),
        "series": {name: stats.series[name] for name in SERIES},
        "dashboard": result.dashboard,
        "truths": truths,
        "ok": all(t.holds for t in result.truths),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def write_json(path: Path, report: dict[str, Any]) -> None:
    """The report as indented JSON."""
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


def write_html(path: Path, report: dict[str, Any]) -> None:
    """The report as one HTML file with inline SVG charts."""
    verdict = "every truth holds" if report["ok"] else "MISMATCH: a truth does not hold"
    config = report["config"]
    rows = [
        ("connections (peak)", report["connections"]["peak"]),
        ("messages/s (sent and received)", report["messages"]["per_s"]),
        *((f"{kind} p50 / p99 (ms)", _pair(report["latency_ms"][kind])) for kind in LATENCIES),
        *((f"outcome: {name}", n) for name, n in report["outcomes"].items()),
        *((f"error: {code}", n) for code, n in report["errors"].items()),
    ]
    figures = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    truths = "".join(
        f"<tr class={'ok' if t['holds'] else 'bad'}><td>{html.escape(t['name'])}</td>"
        f"<td>{expected(t)}</td><td>{t['observed']}</td>"
        f"<td>{'holds' if t['holds'] else 'MISMATCH'}</td></tr>"
        for t in report["truths"]
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bilten simulated day</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}td,th{{padding:2px 10px;
text-align:left}}.ok td:last-child{{color:#2ca02c}}.bad td:last-child{{color:#d62728;
font-weight:bold}}svg{{border:1px solid #ddd}}</style></head><body>
<h1>Simulated day: event {report["event_id"]}</h1>
<p>{config["attendees"]} attendees, {config["gates"]} gates, {config["polls"]} polls,
{config["duration_s"]:g} s (seed {config["seed"]}); ran {report["seconds"]:g} s.
<strong>{verdict}</strong>.</p>
<h2>Truths</h2><table><tr><th>truth</th><th>expected</th><th>observed</th><th></th></tr>
{truths}</table>
<h2>Per second</h2>{line_chart(report["series"])}
<h2>Latency (ms)</h2>{bar_chart(report["latency_ms"])}
<h2>Figures</h2><table>{figures}</table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def expected(truth: dict[str, Any]) -> str:
    """A truth's expected figure, with how many more it may be when some are unknown."""
    unknown = f" (up to {truth['unknown']} more)" if truth["unknown"] else ""
    return f"{truth['expected']}{unknown}"


def _pair(latency: dict[str, Any]) -> str:
    return f"{latency['p50']} / {latency['p99']}"


def line_chart(series: dict[str, list[int]]) -> str:
    """Per-second counts as polylines on shared axes, with a legend."""
    seconds = max((len(v) for v in series.values()), default=0)
    top = max((max(v) for v in series.values() if v), default=0) or 1
    span_x, span_y = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def point(second: int, count: int) -> str:
        x = PAD + span_x * second / max(1, seconds - 1)
        return f"{x:.1f},{HEIGHT - PAD - span_y * count / top:.1f}"

    lines = []
    for n, (name, counts) in enumerate(series.items()):
        colour = COLOURS.get(name, "#333")
        points = " ".join(point(s, c) for s, c in enumerate(counts))
        lines.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{points}"><title>{name}</title></polyline>'
            f'<text x="{PAD + 110 * n}" y="{PAD / 2}" fill="{colour}">{name}</text>'
        )
    return _svg(
        f"{_axes()}"
        f'<text x="4" y="{PAD}">{top}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}">{seconds} s</text>' + "".join(lines)
    )


def bar_chart(latency: dict[str, dict[str, Any]]) -> str:
    """p50 and p99 of each latency as pairs of bars."""
    values = [v for kind in latency.values() for v in (kind["p50"], kind["p99"]) if v]
    top = max(values, default=0) or 1
    span_y = HEIGHT - 2 * PAD
    width = (WIDTH - 2 * PAD) / max(1, len(latency))
    bars = []
    for n, (kind, figures) in enumerate(latency.items()):
        for m, (label, colour) in enumerate((("p50", "#aec7e8"), ("p99", "#1f77b4"))):
            value = figures[label] or 0
            h = span_y * value / top
            x = PAD + n * width + m * width * 0.4 + width * 0.1
            bars.append(
                f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" '
                f'width="{width * 0.35:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{kind} {label}: {value} ms</title></rect>"
            )
        bars.append(
            f'<text x="{PAD + n * width + width * 0.2:.1f}" y="{HEIGHT - 12}">{kind}</text>'
        )
    return _svg(f'{_axes()}<text x="4" y="{PAD}">{top:g}</text>' + "".join(bars))


def _axes() -> str:
    return (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
    )


def _svg(body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-size="12">{body}</svg>'
    )
