"""XMP keywords: the tags a photo manager wrote (Lightroom, digiKam, Dublin Core subject)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_KEYWORD_PROPERTIES = (
    "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject",
    "{http://purl.org/dc/elements/1.1/}subject",
)


def _xmp_tags(root: ET.Element | None) -> tuple[str, ...]:
    """Keywords: lr:hierarchicalSubject ("Species|Amur leopard"), then dc:subject; no repeats."""
    if root is None:
        return ()
    seen: dict[str, None] = {}
    for prop in _KEYWORD_PROPERTIES:
        for value in _xmp_values(root, prop):
            seen.setdefault(value)
    return tuple(seen)


def _xmp_values(root: ET.Element, prop: str) -> list[str]:
    """The items of an rdf:Bag/rdf:Seq property, or its simple value, or its attribute form."""
    values = []
    for element in root.iter(prop):
        items = [item.text for item in element.iter(_RDF + "li")] or [element.text]
        values.extend(item.strip() for item in items if item and item.strip())
    for description in root.iter(_RDF + "Description"):
        attribute = (description.get(prop) or "").strip()
        if attribute:
            values.append(attribute)
    return values


def _parse_xmp(packet: bytes | None) -> ET.Element | None:
    """Parse the packet, refusing any DTD: XMP never has one, and entities are the XML attacks.

    With no DTD there is nothing to expand, and ElementTree fetches nothing external, which is
    why the stdlib parser is safe here without defusedxml.
    """
    if not packet or (b"ubject" not in packet and b"SerialNumber" not in packet):
        return None  # neither keywords nor a serial: skip the parse
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return None
    end = packet.rfind(b"<?xpacket end")
    close = packet.find(b"?>", end) if end != -1 else -1
    if close != -1:
        packet = packet[: close + 2]  # drop the padding and anything after the packet
    try:
        return ET.fromstring(packet.rstrip(b"\x00 \t\r\n"))  # noqa: S314 - no DTD, see above
    except (ET.ParseError, ValueError):
        return None
