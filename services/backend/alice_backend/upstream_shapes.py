"""Tolerant reading of internal API answers: `_id` or `id`, a bare list or `{items: [...]}`."""

from typing import Any

from alice_backend.errors import ApiError


def public(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ApiError(502, "upstream_error", "unexpected answer from an internal service")
    out = dict(doc)
    if "id" not in out and "_id" in out:
        out["id"] = out.pop("_id")
    return out


def items(body: Any, key: str = "items") -> list[dict[str, Any]]:
    if isinstance(body, dict):
        body = body.get(key, [])
    if not isinstance(body, list):
        raise ApiError(502, "upstream_error", "unexpected answer from an internal service")
    return [public(d) for d in body]
