"""Small helpers the feed parsers share: payload limits, JSON decoding, text shaping."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Final

import msgspec

from ingest.errors import FeedInvalid

# One payload is one HTTP request or one file; more items than this is a bulk import that must
# be split, and refusing it early keeps one sender from stalling the accept path.
MAX_ITEMS: Final = 10_000
MAX_HEADLINE: Final = 200
MAX_DESCRIPTION: Final = 5_000
MAX_EVENT: Final = 200

_UMLAUTS: Final = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae",
                                 "Ö": "oe", "Ü": "ue"})  # fmt: skip
_NON_SLUG: Final = re.compile(r"[^a-z0-9]+")


def slug(text: str, *, fallback: str = "unspecified") -> str:
    """``"SCHWERE STURMBÖEN"`` → ``"schwere_sturmboeen"``: a category detail (≤ 40 chars)."""
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_UMLAUTS))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    result = _NON_SLUG.sub("_", ascii_text.lower()).strip("_")[:40].rstrip("_")
    return result or fallback


def clipped(text: str | None, limit: int, name: str, warnings: list[str]) -> str | None:
    """``text`` cut to ``limit`` characters (ending in "…"); a warning names the field."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    if len(text) <= limit:
        return text
    warnings.append(f"{name}: {len(text)} characters truncated to {limit}")
    return text[: limit - 1] + "…"


def strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def decode_json(data: bytes) -> Any:
    """Any JSON document as builtins, or :class:`FeedInvalid` (also for absurd nesting)."""
    try:
        return msgspec.json.decode(strip_bom(data))
    except msgspec.DecodeError as error:
        raise FeedInvalid(f"not valid JSON: {error}") from None
    except RecursionError:
        raise FeedInvalid("JSON nested too deeply") from None


def check_count(count: int, what: str = "items") -> None:
    if count > MAX_ITEMS:
        raise FeedInvalid(f"{count} {what} in one payload; at most {MAX_ITEMS} allowed")
