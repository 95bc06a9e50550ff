"""Reading a CAP payload: hardened XML parsing and the envelopes around alerts.

:func:`read_xml` refuses DTDs outright (no entity expansion, no external fetches: billion
laughs and XXE fail in microseconds). :func:`alerts_in` returns the CAP ``<alert>`` elements of
a bare alert, an EDXL-DE 1.0 distribution or SMHI's ``<alerts>`` list, in document order with
their CAP namespace; any other root is refused so the CAP mapping only ever sees alerts.
"""

from __future__ import annotations

from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml
import defusedxml.ElementTree as SafeET

from ingest.errors import FeedInvalid, FeedUnsupported
from ingest.formats.cap_mapping import CAP_NAMESPACES

EDXL_DE_NAMESPACE: Final = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
_EDXL: Final = "{" + EDXL_DE_NAMESPACE + "}"
MAX_PAYLOAD_BYTES: Final = 32 * 1024 * 1024
# A CAP alert is 4 levels deep, inside an EDXL-DE envelope 8; deeper nesting is an attack that
# would otherwise cost seconds of CPU and hundreds of MB building the tree before it is refused.
MAX_DEPTH: Final = 64


class _TooDeep(Exception):
    pass


def _limit_depth(parser: Any) -> None:
    """Refuse elements nested deeper than :data:`MAX_DEPTH` while expat reads them."""
    expat = parser.parser
    start, end = expat.StartElementHandler, expat.EndElementHandler
    depth = 0

    def on_start(*args: Any) -> Any:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _TooDeep
        return start(*args)

    def on_end(*args: Any) -> Any:
        nonlocal depth
        depth -= 1
        return end(*args)

    expat.StartElementHandler = on_start
    expat.EndElementHandler = on_end


def read_xml(data: bytes) -> Element:
    """The root element of a payload, parsed without DTDs, entities or external references."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise FeedInvalid(f"payload must be bytes, got {type(data).__name__}")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise FeedInvalid(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes")
    payload = bytes(data).lstrip(b" \t\r\n")
    if not payload:
        raise FeedInvalid("empty payload: expected a CAP XML document")
    try:
        parser = SafeET.DefusedXMLParser(
            target=TreeBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        _limit_depth(parser)
        parser.feed(payload)
        root: Element = parser.close()
    except _TooDeep:
        raise FeedInvalid(f"XML nested deeper than {MAX_DEPTH} elements") from None
    except defusedxml.DTDForbidden:
        raise FeedInvalid("XML with a DTD (<!DOCTYPE>) is refused: CAP needs none and DTDs "
                          "carry entity and external-reference attacks") from None  # fmt: skip
    except defusedxml.EntitiesForbidden as error:
        raise FeedInvalid(f"XML entity declarations are refused ({error.name!r})") from None
    except defusedxml.ExternalReferenceForbidden:
        raise FeedInvalid("XML external references are refused") from None
    except defusedxml.DefusedXmlException as error:
        raise FeedInvalid(f"unsafe XML refused: {error}") from None
    except ParseError as error:
        raise FeedInvalid(f"not well-formed XML: {error}") from None
    except (ValueError, LookupError, UnicodeError, RecursionError) as error:
        raise FeedInvalid(f"not readable as XML: {error}") from None
    return root


def split_tag(tag: object) -> tuple[str, str]:
    """``"{ns}name"`` → ``("ns", "name")``; comments and processing instructions → ``("", "")``."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _namespace_error(namespace: str, name: str) -> FeedUnsupported:
    expected = ", ".join(CAP_NAMESPACES)
    shown = namespace or "(no namespace)"
    return FeedUnsupported(
        f"<{name}> in namespace '{shown}' is not CAP; expected one of {expected}", field="$"
    )


def alerts_in(root: Element) -> tuple[list[tuple[Element, str]], list[str]]:
    """``([(alert, cap_namespace), ...], warnings)`` or :class:`FeedInvalid`."""
    namespace, name = split_tag(root.tag)
    if name == "alert":
        if namespace not in CAP_NAMESPACES:
            raise _namespace_error(namespace, name)
        return [(root, namespace)], []
    if name == "alerts":  # SMHI's non-standard list of alerts
        if namespace not in CAP_NAMESPACES:
            raise _namespace_error(namespace, name)
        alerts = [
            (child, namespace) for child in root if split_tag(child.tag) == (namespace, "alert")
        ]
        if not alerts:
            raise FeedInvalid("<alerts> wrapper holds no CAP <alert>", field="$.alerts")
        return alerts, []
    if name == "EDXLDistribution":
        if namespace != EDXL_DE_NAMESPACE:
            raise FeedUnsupported(
                f"EDXL distribution in namespace '{namespace or '(no namespace)'}' is not "
                f"EDXL-DE 1.0 ({EDXL_DE_NAMESPACE})"
            )
        return _unwrap_edxl(root)
    raise FeedUnsupported(
        f"root element <{name or '?'}> (namespace '{namespace or '(none)'}') is neither a CAP "
        "<alert> nor an EDXL-DE <EDXLDistribution>"
    )


def _unwrap_edxl(root: Element) -> tuple[list[tuple[Element, str]], list[str]]:
    alerts: list[tuple[Element, str]] = []
    warnings: list[str] = []
    for index, content in enumerate(root.iterfind(f"{_EDXL}contentObject")):
        where = f"EDXL contentObject {index}"
        embedded = content.findall(f"{_EDXL}xmlContent/{_EDXL}embeddedXMLContent")
        if not embedded:
            if content.find(f"{_EDXL}nonXMLContent") is not None:
                warnings.append(f"{where}: non-XML content (e.g. a linked file) skipped")
            else:
                warnings.append(f"{where}: no embeddedXMLContent; skipped")
            continue
        for holder in embedded:
            for child in holder:
                namespace, name = split_tag(child.tag)
                if name == "alert" and namespace in CAP_NAMESPACES:
                    alerts.append((child, namespace))
                elif name:
                    warnings.append(f"{where}: <{name}> in '{namespace}' is not CAP; skipped")
    if not alerts:
        raise FeedInvalid("EDXL-DE distribution holds no CAP alert", field="$.contentObject")
    return alerts, warnings
