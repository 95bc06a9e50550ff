"""Feed kinds: how one poll of a feed turns HTTP payloads into ``(report, raw bytes)`` items.

Each source fetches through :class:`Fetcher` and hands bytes to the pure parsers
(:func:`ingest.formats.parse`); it neither stores nor schedules. Sources that look inside a
payload (Atom entries, zip entries) remember what they already parsed so an unchanged entry is
not fetched or parsed again; that memory is only updated by :meth:`FeedSource.commit` once the
poller has the items durably in the log, so a failed append is retried in full next time.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import msgspec
from defusedxml import DefusedXmlException

from ingest.errors import FeedInvalid, ReportInvalid
from ingest.formats import parse
from ingest.pollers.config import FeedConfig
from ingest.pollers.errors import ArchiveUnsafe, FetchFailed
from ingest.pollers.fetcher import Fetched, Fetcher, NotModified, Validators
from ingest.report import Report

_ATOM: Final = "{http://www.w3.org/2005/Atom}"
_ENTRY_CONCURRENCY: Final = 4


@dataclass(frozen=True, slots=True)
class Harvest:
    """What one poll of one feed produced.

    ``items`` pairs each report with the raw bytes it came from (the CAP document, the zip
    entry, the NINA payload). ``failures`` are parts that could not be fetched (one Atom entry);
    they are retried next poll. ``seen``/``current`` feed :meth:`FeedSource.commit`.
    """

    validators: Validators
    not_modified: bool = False
    items: tuple[tuple[Report, bytes], ...] = ()
    rejected: tuple[ReportInvalid, ...] = ()
    warnings: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    seen: frozenset[str] = frozenset()
    current: frozenset[str] | None = None


class FeedSource(Protocol):
    feed: FeedConfig

    async def harvest(self, fetcher: Fetcher, validators: Validators | None) -> Harvest: ...

    def commit(self, harvest: Harvest) -> None: ...


def _options(feed: FeedConfig) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if feed.source is not None:
        options["source"] = feed.source
    if feed.kind == "nina" and feed.ars is not None:
        options["ars"] = feed.ars
    return options


def _parsed(
    data: bytes, fmt: str, options: Mapping[str, Any], *, where: str | None = None
) -> tuple[list[tuple[Report, bytes]], list[ReportInvalid], list[str]]:
    """Parse one document; every report keeps the whole document as its raw bytes."""
    result = parse(data, fmt, **options)
    prefix = f"{where}: " if where else ""
    rejected = [ReportInvalid(r.field, prefix + r.reason, index=r.index) for r in result.rejected]
    warnings = [prefix + w for w in result.warnings]
    return [(report, data) for report in result.reports], rejected, warnings


class BaseSource(ABC):
    """A feed source that remembers the parts it already published, bounded by what the feed
    still lists."""

    feed: FeedConfig

    @abstractmethod
    async def harvest(self, fetcher: Fetcher, validators: Validators | None) -> Harvest: ...

    def __init__(self, feed: FeedConfig) -> None:
        self.feed = feed
        self._seen: set[str] = set()

    def commit(self, harvest: Harvest) -> None:
        self._seen |= harvest.seen
        if harvest.current is not None:
            self._seen &= harvest.current


class CapFileSource(BaseSource):
    """One URL serving one CAP document (or an EDXL-DE envelope of CAP alerts)."""

    async def harvest(self, fetcher: Fetcher, validators: Validators | None) -> Harvest:
        got = await _get(fetcher, self.feed, self.feed.url, validators)
        if isinstance(got, NotModified):
            return Harvest(got.validators, not_modified=True)
        items, rejected, warnings = _parsed(got.body, "cap", _options(self.feed))
        return Harvest(got.validators, False, tuple(items), tuple(rejected), tuple(warnings))


_RAW_LIST: Final = msgspec.json.Decoder(list[msgspec.Raw])
_RAW_MAP: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])


def nina_items(data: bytes) -> list[bytes] | None:
    """Each warning's own JSON bytes, in the order the NINA parser counts them (array elements,
    or the values of an id → warning object), or None for a single warning."""
    body = data.removeprefix(b"\xef\xbb\xbf").strip()
    try:
        if body[:1] == b"[":
            return [bytes(raw) for raw in _RAW_LIST.decode(body)]
        values = [bytes(raw) for raw in _RAW_MAP.decode(body).values()]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return values if values and all(v[:1] == b"{" for v in values) else None


class NinaSource(BaseSource):
    """A NINA / warnung.bund.de JSON endpoint (legacy ``*.json`` feeds, api31 dashboard).

    Legacy feeds list every active warning in one array of megabytes; each report keeps its
    own warning's JSON as raw bytes, not a copy of the whole list.
    """

    async def harvest(self, fetcher: Fetcher, validators: Validators | None) -> Harvest:
        got = await _get(fetcher, self.feed, self.feed.url, validators)
        if isinstance(got, NotModified):
            return Harvest(got.validators, not_modified=True)
        result = parse(got.body, "nina", **_options(self.feed))
        items = [(report, got.body) for report in result.reports]
        parts = nina_items(got.body)
        if parts is not None:
            rejected = {r.index for r in result.rejected}
            kept = [part for i, part in enumerate(parts) if i not in rejected]
            if len(kept) == len(result.reports):
                items = list(zip(result.reports, kept, strict=True))
        return Harvest(got.validators, False, tuple(items), result.rejected, result.warnings)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One Atom entry or RSS item that links a CAP document."""

    key: str  # link + updated stamp: a re-published entry at the same URL is fetched again
    url: str
    title: str | None = None


@dataclass(slots=True)
class _EntryResults:
    items: list[tuple[Report, bytes]] = field(default_factory=list)
    rejected: list[ReportInvalid] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _cap_link(entry: Element) -> str | None:
    """The entry's CAP link: a CAP-typed link first, then ``alternate``, then any link."""
    links = entry.findall(f"{_ATOM}link")

    def rank(link: Element) -> int:
        kind = (link.get("type") or "").lower()
        rel = link.get("rel") or "alternate"
        if "cap" in kind:
            return 0
        if rel == "alternate" and "xml" in kind:
            return 1
        if rel == "alternate":
            return 2
        return 3 if rel == "enclosure" else 4

    candidates = sorted((link for link in links if link.get("href")), key=rank)
    return candidates[0].get("href") if candidates else None


def parse_feed(data: bytes, base_url: str) -> tuple[list[FeedEntry], list[str]]:
    """Entries of an Atom or RSS 2.0 feed with absolute http(s) CAP links, plus warnings."""
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as error:
        raise FeedInvalid(f"feed refused: {type(error).__name__}") from None
    except SafeET.ParseError as error:
        raise FeedInvalid(f"feed is not well-formed XML: {error}") from None
    raw: list[tuple[str | None, str | None, str | None, str | None]] = []
    if root.tag == f"{_ATOM}feed":
        for entry in root.findall(f"{_ATOM}entry"):
            raw.append(
                (
                    _cap_link(entry),
                    _text(entry.find(f"{_ATOM}updated")),
                    _text(entry.find(f"{_ATOM}id")),
                    _text(entry.find(f"{_ATOM}title")),
                )
            )
    elif root.tag == "rss":
        for item in root.iterfind("channel/item"):
            enclosure = item.find("enclosure")
            link = enclosure.get("url") if enclosure is not None else None
            raw.append(
                (
                    link or _text(item.find("link")),
                    _text(item.find("pubDate")),
                    _text(item.find("guid")),
                    _text(item.find("title")),
                )
            )
    else:
        raise FeedInvalid(f"expected an Atom <feed> or an RSS <rss> root, got <{root.tag}>")
    entries: list[FeedEntry] = []
    warnings: list[str] = []
    for index, (link, updated, ident, title) in enumerate(raw):
        if not link:
            warnings.append(f"entry {index} ({ident or title}): no link to a CAP document")
            continue
        url = urljoin(base_url, link)
        if urlsplit(url).scheme not in ("http", "https"):
            warnings.append(f"entry {index}: link {link!r} is not http(s); skipped")
            continue
        entries.append(FeedEntry(f"{url}#{updated or ''}", url, title))
    return entries, warnings


class AtomCapSource(BaseSource):
    """An Atom (or RSS) feed whose entries link CAP documents; each new entry is fetched."""

    async def harvest(self, fetcher: Fetcher, validators: Validators | None) -> Harvest:
        got = await _get(fetcher, self.feed, self.feed.url, validators)
        if isinstance(got, NotModified):
            return Harvest(got.validators, not_modified=True)
        entries, warnings = parse_feed(got.body, got.url)
        current = frozenset(e.key for e in entries)
        fresh = [e for e in entries if e.key not in self._seen]
        if len(fresh) > self.feed.max_entries:
            warnings.append(
                f"{len(fresh)} new entries; fetching {self.feed.max_entries} now, rest next poll"
            )
            fresh = fresh[: self.feed.max_entries]
        results = _EntryResults(warnings=warnings)
        gate = asyncio.Semaphore(_ENTRY_CONCURRENCY)
        await asyncio.gather(*(self._entry(fetcher, e, gate, results) for e in fresh))
        return Harvest(
            got.validators,
            False,
            tuple(results.items),
            tuple(results.rejected),
            tuple(results.warnings),
            tuple(results.failures),
            frozenset(results.seen),
            current,
        )

    async def _entry(
        self, fetcher: Fetcher, entry: FeedEntry, gate: asyncio.Semaphore, out: _EntryResults
    ) -> None:
        async with gate:
            try:
                got = await _get(fetcher, self.feed, entry.url, None)
                assert not isinstance(got, NotModified)  # no validators sent
                items, rejected, warnings = _parsed(
                    got.body, "cap", _options(self.feed), where=entry.url
                )
            except FetchFailed as error:
                out.failures.append(str(error))
                return
            except FeedInvalid as error:
                # The entry is broken, not unreachable: refetching it every poll would not help.
                out.rejected.append(ReportInvalid(error.field, f"{entry.url}: {error.reason}"))
                out.seen.add(entry.key)
                return
        out.items.extend(items)
        out.rejected.extend(rejected)
        out.warnings.extend(warnings)
        out.seen.add(entry.key)


def unpack_zip(data: bytes, feed: FeedConfig) -> list[tuple[str, str, bytes]]:
    """``(name, key, bytes)`` of every ``.xml`` entry, or :class:`ArchiveUnsafe`.

    Declared sizes are checked first (cheap), then the real decompressed sizes are counted
    while reading, because a crafted archive can declare small sizes and inflate to gigabytes.
    Any breach rejects the whole archive: a zip bomb is an attack, not a partial feed.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise ArchiveUnsafe(f"not a readable zip archive: {error}") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > feed.max_zip_entries:
            raise ArchiveUnsafe(
                f"{len(infos)} entries exceed max_zip_entries {feed.max_zip_entries}"
            )
        declared = sum(i.file_size for i in infos)
        if declared > feed.max_unzipped_bytes:
            raise ArchiveUnsafe(
                f"entries declare {declared} bytes, over max_unzipped_bytes "
                f"{feed.max_unzipped_bytes}"
            )
        out: list[tuple[str, str, bytes]] = []
        total = 0
        for info in infos:
            if not info.filename.lower().endswith(".xml"):
                continue
            if info.flag_bits & 0x1:
                raise ArchiveUnsafe(f"entry {info.filename!r} is encrypted")
            if info.file_size > feed.max_entry_bytes:
                raise ArchiveUnsafe(
                    f"entry {info.filename!r} declares {info.file_size} bytes, over "
                    f"max_entry_bytes {feed.max_entry_bytes}"
                )
            try:
                with archive.open(info) as stream:
                    content = stream.read(feed.max_entry_bytes + 1)
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as error:
                raise ArchiveUnsafe(f"entry {info.filename!r} unreadable: {error}") from None
            except Exception as error:  # zlib.error, lzma/bz2 errors: corrupt streams
                raise ArchiveUnsafe(f"entry {info.filename!r} corrupt: {error}") from None
            if len(content) > feed.max_entry_bytes:
                raise ArchiveUnsafe(
                    f"entry {info.filename!r} inflates beyond max_entry_bytes "
                    f"{feed.max_entry_bytes}"
                )
            total += len(content)
            if total > feed.max_unzipped_bytes:
                raise ArchiveUnsafe(
                    f"entries inflate beyond max_unzipped_bytes {feed.max_unzipped_bytes}"
                )
            out.append((info.filename, f"{info.filename}#{info.CRC:08x}:{info.file_size}", content))
        return out


class DwdZipSource(BaseSource):
    """A zip of CAP XML files, such as DWD's ``..._COMMUNEUNION_MUL.zip`` "LATEST" snapshot.

    The snapshot repeats every still-valid warning each time; entries already published (same
    name and CRC) are skipped, so a changed zip only costs parsing its new files.
    """

    async def harvest(self, fetcher: Fetcher, validators: Validators | None) -> Harvest:
        got = await _get(fetcher, self.feed, self.feed.url, validators)
        if isinstance(got, NotModified):
            return Harvest(got.validators, not_modified=True)
        entries = unpack_zip(got.body, self.feed)
        results = _EntryResults()
        for index, (name, key, content) in enumerate(entries):
            if key in self._seen:
                continue
            try:
                items, rejected, warnings = _parsed(content, "cap", _options(self.feed), where=name)
            except FeedInvalid as error:
                results.rejected.append(
                    ReportInvalid(error.field, f"{name}: {error.reason}", index=index)
                )
            else:
                results.items.extend(items)
                results.rejected.extend(rejected)
                results.warnings.extend(warnings)
            results.seen.add(key)
        return Harvest(
            got.validators,
            False,
            tuple(results.items),
            tuple(results.rejected),
            tuple(results.warnings),
            (),
            frozenset(results.seen),
            frozenset(key for _, key, _ in entries),
        )


async def _get(
    fetcher: Fetcher, feed: FeedConfig, url: str, validators: Validators | None
) -> Fetched | NotModified:
    return await fetcher.get(
        url, validators=validators, timeout=feed.timeout_seconds, max_bytes=feed.max_bytes
    )


SOURCE_KINDS: Final[Mapping[str, type[BaseSource]]] = {
    "cap": CapFileSource,
    "atom": AtomCapSource,
    "nina": NinaSource,
    "dwd_zip": DwdZipSource,
}


def source_for(feed: FeedConfig) -> FeedSource:
    return SOURCE_KINDS[feed.kind](feed)
