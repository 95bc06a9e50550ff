"""Feed sources in isolation: Atom/RSS entry extraction and safe zip unpacking."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ingest.errors import FeedInvalid
from ingest.pollers.config import FeedConfig
from ingest.pollers.errors import ArchiveUnsafe
from ingest.pollers.sources import parse_feed, unpack_zip

MUL = "cap/dwd/2.49.0.0.276.0.DWD.PVW.*.MUL.xml"


def dwd_zip(shared_data: Path, *extra: tuple[str, bytes]) -> bytes:
    """A zip like DWD's COMMUNEUNION "LATEST" snapshot, built from the real MUL files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(shared_data.glob(MUL)):
            archive.writestr(path.name, path.read_bytes())
        for name, data in extra:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_feed(**limits: int) -> FeedConfig:
    return FeedConfig(name="dwd", kind="dwd_zip", url="https://example.org/x.zip", **limits)  # type: ignore[arg-type]


def test_unpack_real_dwd_zip_keeps_each_xml_entry(shared_data: Path) -> None:
    data = dwd_zip(shared_data, ("README.txt", b"not a warning"), ("dir/", b""))
    entries = unpack_zip(data, zip_feed())
    originals = {p.name: p.read_bytes() for p in shared_data.glob(MUL)}
    assert {name for name, _, _ in entries} == set(originals)  # txt and directory skipped
    for name, key, content in entries:
        assert content == originals[name]
        assert key.startswith(name + "#")
    # The key changes with the content: a re-issued file of the same name is parsed again.
    renamed = dwd_zip(shared_data)
    assert {k for _, k, _ in unpack_zip(renamed, zip_feed())} == {k for _, k, _ in entries}


def test_too_many_entries_is_refused(shared_data: Path) -> None:
    with pytest.raises(ArchiveUnsafe, match="3 entries exceed max_zip_entries 2"):
        unpack_zip(dwd_zip(shared_data), zip_feed(max_zip_entries=2))


def test_zip_bomb_is_refused_by_declared_and_real_size() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i in range(4):
            archive.writestr(f"bomb{i}.xml", b"\0" * 8_000_000)
    bomb = buffer.getvalue()
    assert len(bomb) < 100_000  # 32 MB of zeros in a few kB
    with pytest.raises(ArchiveUnsafe, match="over max_unzipped_bytes 10000000"):
        unpack_zip(bomb, zip_feed(max_unzipped_bytes=10_000_000))
    with pytest.raises(ArchiveUnsafe, match="over max_entry_bytes 1000000"):
        unpack_zip(bomb, zip_feed(max_entry_bytes=1_000_000))


def test_broken_archives_are_refused(shared_data: Path) -> None:
    with pytest.raises(ArchiveUnsafe, match="not a readable zip"):
        unpack_zip(b"PK\x03\x04 this is no zip", zip_feed())
    data = bytearray(dwd_zip(shared_data))
    # Corrupt the first entry's compressed stream (just after its local header and name).
    name_length = int.from_bytes(data[26:28], "little")
    start = 30 + name_length
    data[start : start + 64] = b"\xff" * 64
    with pytest.raises(ArchiveUnsafe, match=r"unreadable|corrupt"):
        unpack_zip(bytes(data), zip_feed())
    assert issubclass(ArchiveUnsafe, FeedInvalid)


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Warnings</title>
  <id>urn:test:feed</id>
  <updated>2023-06-23T12:00:00Z</updated>
  <entry>
    <id>urn:a</id><title>A</title><updated>2023-06-23T10:00:00Z</updated>
    <link rel="self" href="/self/a"/>
    <link rel="alternate" type="text/html" href="/html/a"/>
    <link rel="alternate" type="application/cap+xml" href="cap/a.xml"/>
  </entry>
  <entry>
    <id>urn:b</id><title>B</title><updated>2023-06-23T11:00:00Z</updated>
    <link href="https://other.example/b.xml"/>
  </entry>
  <entry><id>urn:c</id><title>no link</title></entry>
  <entry><id>urn:d</id><link href="file:///etc/passwd"/></entry>
</feed>"""


def test_atom_entries_prefer_the_cap_link_and_resolve_relative_urls() -> None:
    entries, warnings = parse_feed(ATOM, "http://127.0.0.1:9/feeds/atom.xml")
    assert [e.url for e in entries] == [
        "http://127.0.0.1:9/feeds/cap/a.xml",
        "https://other.example/b.xml",
    ]
    assert entries[0].key == "http://127.0.0.1:9/feeds/cap/a.xml#2023-06-23T10:00:00Z"
    assert any("urn:c" in w and "no link" in w for w in warnings)
    assert any("file:///etc/passwd" in w for w in warnings)


def test_rss_items_use_enclosure_or_link() -> None:
    rss = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>one</title><link>https://x.example/1.xml</link>
        <guid>1</guid><pubDate>Fri, 23 Jun 2023 10:00:00 GMT</pubDate></item>
      <item><title>two</title><link>https://x.example/page</link>
        <enclosure url="https://x.example/2.cap" type="application/cap+xml" length="1"/></item>
    </channel></rss>"""
    entries, _ = parse_feed(rss, "https://x.example/rss")
    assert [e.url for e in entries] == ["https://x.example/1.xml", "https://x.example/2.cap"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<feed", "not well-formed"),
        (b"<html><body/></html>", "expected an Atom"),
        (
            b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x "y">]>'
            b'<feed xmlns="http://www.w3.org/2005/Atom">&x;</feed>',
            "feed refused",
        ),
    ],
)
def test_unusable_feeds_are_feed_invalid(data: bytes, reason: str) -> None:
    with pytest.raises(FeedInvalid, match=reason):
        parse_feed(data, "https://x.example/")
