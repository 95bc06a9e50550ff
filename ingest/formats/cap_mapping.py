"""How CAP values map onto contract 1: sources, category families, enumerations, ids and times.

Everything here is a small table or a pure function on strings, so the CAP parser
(:mod:`ingest.formats.cap`) only walks XML and the rules can be read (and tested) in one place.

Category mapping (CAP ``<category>`` → our source when the caller gives none, and our family):

=========  ==================  ==========================================================
CAP        source              category
=========  ==================  ==========================================================
Met        weather             ``weather.<event slug>``
Fire       fire                ``fire.wildfire`` (bush/grass/forest/…) else ``fire.<slug>``
Health     health              ``medical.<slug>``
Security   police              ``security.<slug>``
Geo        civil_protection    ``other.earthquake`` / ``other.tsunami`` / … else ``other.<slug>``
Env        civil_protection    ``hazmat.<slug>`` (chemical, toxic, spill, …) else ``other.<slug>``
Infra      civil_protection    ``infrastructure.<slug>``
Transport  civil_protection    ``accident.<slug>``
Rescue     civil_protection    ``rescue.<slug>``
CBRNE      civil_protection    ``hazmat.<slug>``
Safety     civil_protection    ``other.<slug>``
Other      civil_protection    ``other.<slug>``
=========  ==================  ==========================================================

Whatever the CAP category, an event text or eventCode naming a flood (flood, Hochwasser,
Sturmflut, storm surge, …) gives ``flood.<slug>``; a DWD sender always gives source
``weather`` (DWD files heat warnings as Health and frost as Met, both are weather warnings).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from ingest.report import Source

CAP_NAMESPACES: Final[Mapping[str, str]] = {
    "urn:oasis:names:tc:emergency:cap:1.2": "1.2",
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
    "http://www.incident.com/cap/1.0": "1.0",
}

# CAP <category> -> (source, family). The family is refined by KEYWORD_RULES below.
CATEGORY_TABLE: Final[Mapping[str, tuple[Source, str]]] = {
    "met": ("weather", "weather"),
    "fire": ("fire", "fire"),
    "health": ("health", "medical"),
    "security": ("police", "security"),
    "geo": ("civil_protection", "other"),
    "env": ("civil_protection", "other"),
    "infra": ("civil_protection", "infrastructure"),
    "transport": ("civil_protection", "accident"),
    "rescue": ("civil_protection", "rescue"),
    "cbrne": ("civil_protection", "hazmat"),
    "safety": ("civil_protection", "other"),
    "other": ("civil_protection", "other"),
}

FLOOD_WORDS: Final = (
    "flood", "hochwasser", "sturmflut", "storm surge", "überflutung", "ueberflutung",
    "überschwemmung", "ueberschwemmung", "inondation", "inundación", "inundacion",
)  # fmt: skip

# (CAP category, words in event/eventCode, category; "*" takes the event slug)
KEYWORD_RULES: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    ("fire", ("bush", "grass", "wild", "forest", "wald", "vegetation", "flächenbrand"),
     "fire.wildfire"),
    ("geo", ("earthquake", "erdbeben", "seism"), "other.earthquake"),
    ("geo", ("tsunami",), "other.tsunami"),
    ("geo", ("landslide", "mudslide", "erdrutsch", "hangrutsch"), "other.landslide"),
    ("geo", ("volcan", "vulkan"), "other.volcano"),
    ("env", ("chemi", "toxic", "pollut", "contamin", "spill", "leak", "schadstoff",
             "gefahrstoff", "radiat", "radioa"), "hazmat.*"),
)  # fmt: skip

SEVERITIES: Final[Mapping[str, str]] = {
    s: s for s in ("extreme", "severe", "moderate", "minor", "unknown")
}
URGENCIES: Final[Mapping[str, str]] = {
    u: u for u in ("immediate", "expected", "future", "past", "unknown")
}
CERTAINTIES: Final[Mapping[str, str]] = {
    "observed": "observed",
    "likely": "likely",
    "very likely": "likely",  # CAP 1.0 value, merged into "likely" by CAP 1.1
    "possible": "possible",
    "unlikely": "unlikely",
    "unknown": "unknown",
}
STATUSES: Final[Mapping[str, str]] = {"actual": "actual", "exercise": "exercise", "test": "test"}
NOT_FOR_THE_PICTURE_STATUSES: Final = frozenset({"system", "draft"})
MSG_TYPES: Final[Mapping[str, str]] = {"alert": "alert", "update": "update", "cancel": "cancel"}
NOT_A_REPORT_MSG_TYPES: Final = frozenset({"ack", "error"})

_TRANSLIT: Final = str.maketrans({
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ð": "d",
    "þ": "th", "ł": "l", "đ": "d", "ı": "i",
})  # fmt: skip
_NON_SLUG: Final = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """``"GLÄTTE"`` → ``"glaette"``: lower-case ASCII ``[a-z0-9_]``, at most 40 characters
    (empty when nothing of the text survives, e.g. for Chinese or Arabic)."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_TRANSLIT))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("_", ascii_text).strip("_")[:40].rstrip("_")


def event_slug(event: str | None, event_codes: Iterable[str]) -> str:
    """The slug of the event text, else of the first eventCode value that has one."""
    for text in (event or "", *event_codes):
        result = slug(text)
        if result:
            return result
    return "unspecified"


def mentions(texts: Iterable[str], words: Iterable[str]) -> bool:
    lowered = [t.lower() for t in texts]
    return any(word in text for text in lowered for word in words)


def category_of(cap_category: str | None, event: str | None, event_codes: list[str]) -> str:
    """Our dotted category for one CAP info (see the table in the module docstring)."""
    texts = [event or "", *event_codes]
    detail = event_slug(event, event_codes)
    if mentions(texts, FLOOD_WORDS):
        return f"flood.{detail}"
    key = (cap_category or "other").lower()
    for rule_category, words, category in KEYWORD_RULES:
        if rule_category == key and mentions(texts, words):
            return category.replace("*", detail)
    family = CATEGORY_TABLE.get(key, ("civil_protection", "other"))[1]
    return f"{family}.{detail}"


def source_of(cap_category: str | None, sender: str | None) -> Source:
    """The submitting agency kind when the caller does not fix it."""
    if sender is not None and "dwd.de" in sender.lower():
        return "weather"
    return CATEGORY_TABLE.get((cap_category or "other").lower(), ("civil_protection", "other"))[0]


def limited_id(value: str, limit: int) -> str:
    """``value`` if it fits, else a deterministic prefix plus a hash of the whole value, so two
    long identifiers that share a prefix stay distinct and the same one always maps the same."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return value[: limit - 17] + "~" + digest


def printable(value: str) -> str:
    """White space and control characters inside an identifier become ``_`` (CAP forbids them;
    contract 1 wants printable ids)."""
    return "".join(c if c.isprintable() and not c.isspace() else "_" for c in value)


def parse_time(text: str | None) -> datetime | None:
    """A CAP date-time (``2003-06-17T14:57:00-07:00``) or None if absent, unreadable or without
    a UTC offset (CAP requires one; guessing a zone would shift warnings by hours)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.utcoffset() is not None else None


def sequence_of(sent: datetime) -> int:
    """The thread version: seconds since the epoch of ``sent``, so later messages win."""
    try:
        return max(1, int(sent.timestamp()))
    except (OverflowError, ValueError, OSError):
        return 1


def clipped(text: str | None, limit: int) -> tuple[str | None, bool]:
    """``(text, was_truncated)``: stripped, empty → None, longer than ``limit`` → cut with "…"."""
    if text is None:
        return None, False
    text = text.strip()
    if not text:
        return None, False
    if len(text) <= limit:
        return text, False
    return text[: limit - 1] + "…", True
