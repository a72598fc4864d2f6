"""Scans made and last seen, per paired door device: counted in memory, written in batches.

docs/accounts.md §Door devices. The check-in path adds to a counter per
device (named by the token's `sub`, protocol/devices.device_of) at no
cost to the scan's own transaction; a periodic job of the check-in worker
adds the counters to the devices table in one statement every
USAGE_FLUSH_S, and stamps the devices counted as last seen then (so to
within that interval). A worker that stops loses at most its last
interval's counts: the figures are for the organizer's overview, the scans
table is the record.
"""

from __future__ import annotations

import asyncpg

from bilten.protocol.devices import device_of
from bilten.protocol.tokens import Claims


class DeviceUsage:
    """Counters of scans by device since the last flush."""

    def __init__(self) -> None:
        self._scans: dict[int, int] = {}

    def count(self, claims: Claims, scans: int) -> None:
        """Count `scans` made with `claims`, if they are a device's."""
        device_id = device_of(claims.sub)
        if device_id is not None:
            self._scans[device_id] = self._scans.get(device_id, 0) + scans

    async def flush(self, pg: asyncpg.Pool) -> None:
        """Add the counters to the devices table; on failure they wait for the next flush."""
        scans = self._scans
        if not scans:
            return
        self._scans = {}
        ids = list(scans)
        try:
            await pg.execute(
                """UPDATE devices d SET scans = d.scans + u.n, last_seen_at = now()
                   FROM unnest($1::bigint[], $2::bigint[]) AS u(id, n) WHERE d.id = u.id""",
                ids,
                [scans[i] for i in ids],
            )
        except BaseException:
            for device_id in ids:  # counted meanwhile, then these: both go next time
                self._scans[device_id] = self._scans.get(device_id, 0) + scans[device_id]
            raise
