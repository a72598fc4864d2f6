"""REST calls for read-back tests: status and decoded body, with a bearer token."""

from __future__ import annotations

from typing import Any


async def rest(
    client: Any,
    token: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    **query: Any,
) -> tuple[int, Any]:
    """One REST call; `query` goes into the query string."""
    resp = await client.request(
        method, path, json=body, params=query or None, headers={"Authorization": f"Bearer {token}"}
    )
    return resp.status, await resp.json()


def code(body: Any) -> str:
    """The error code of an error body."""
    return str(body["error"]["code"])
