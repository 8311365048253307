"""OSM tag rules as the region file writes them: `key=value`, or `key=*` for any value."""

from __future__ import annotations

__all__ = ["parse_rule"]


def parse_rule(rule: str) -> tuple[str, str | None]:
    """'amenity=school' -> ('amenity', 'school'); 'shop=*' -> ('shop', None)."""
    key, sep, value = rule.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise ValueError(f"{rule!r} is not a tag rule; write key=value or key=*")
    return key, (None if value == "*" else value)
