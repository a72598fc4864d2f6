"""Turning one phase's raw counts and samples into the numbers the report shows.

Loss is judged two ways. Every subscriber's count must equal the number of
publications the server acknowledged (`lost` counts the shortfall, `extra`
the surplus). Sampled subscribers also kept every `seq`, so for them the exact
set is checked: missing seqs, duplicates, and deliveries out of order.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Sequence
from typing import Any


def percentile(ordered: Sequence[int], fraction: float) -> int:
    """The nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not ordered:
        return 0
    rank = min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def phase_summary(
    *,
    sent: int,
    acked: list[int],
    failed: list[str],
    received: list[int],
    sampled: list[tuple[list[int], array[int]]],
    seconds: float,
    server_cpu: dict[str, float],
    loadgen_cpu: dict[str, float],
) -> dict[str, Any]:
    """The phase's numbers: throughput, latency percentiles (ms), loss, server CPU."""
    expected = len(acked)
    want = set(acked)
    missing = duplicates = disorder = 0
    latencies: list[int] = []
    for seqs, lats in sampled:
        got = set(seqs)
        missing += len(want - got)
        duplicates += len(seqs) - len(got)
        disorder += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        latencies.extend(lats)
    latencies.sort()
    delivered = sum(received)
    return {
        "published": sent,
        "acked": expected,
        "failed": len(failed),
        "failures": sorted(set(failed))[:5],
        "delivered": delivered,
        "expected": expected * len(received),
        "lost": sum(max(0, expected - r) for r in received),
        "extra": sum(max(0, r - expected) for r in received),
        "sampled_missing": missing,
        "sampled_duplicates": duplicates,
        "sampled_out_of_order": disorder,
        "seconds": seconds,
        "publications_per_s": expected / seconds if seconds else 0.0,
        "delivered_per_s": delivered / seconds if seconds else 0.0,
        "latency_samples": len(latencies),
        "p50_ms": percentile(latencies, 0.50) / 1e6,
        "p99_ms": percentile(latencies, 0.99) / 1e6,
        "max_ms": (latencies[-1] if latencies else 0) / 1e6,
        "server_cpu": server_cpu,
        "loadgen_cpu": loadgen_cpu,
    }
