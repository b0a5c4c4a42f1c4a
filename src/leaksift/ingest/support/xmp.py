"""XMP packets (RDF/XML metadata in PDF and image files) as flat {prefix:name: value} properties.

Parsed with defusedxml only; arrays become lists, an Alt its x-default value, structs nested dicts.
"""

from __future__ import annotations

import io
from typing import Any

import defusedxml
import defusedxml.ElementTree as DET

from .meta import MAX_META, cap

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMP_PREFIXES = {
    "adobe:ns:meta/": "x", RDF: "rdf", "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp", "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights", "http://ns.adobe.com/pdf/1.3/": "pdf",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop", "http://ns.adobe.com/exif/1.0/": "exif",
    "http://ns.adobe.com/tiff/1.0/": "tiff", "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://ns.adobe.com/exif/1.0/aux/": "aux", "http://www.aiim.org/pdfa/ns/id/": "pdfaid",
    "http://www.aiim.org/pdfua/ns/id/": "pdfuaid", "http://ns.adobe.com/pdfx/1.3/": "pdfx",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/xap/1.0/sType/ResourceRef#": "stRef",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://ns.adobe.com/xap/1.0/t/pg/": "xmpTPg", "http://ns.adobe.com/xap/1.0/g/": "xmpG",
    "http://www.aiim.org/pdfa/ns/extension/": "pdfaExtension",
    "http://www.aiim.org/pdfa/ns/schema#": "pdfaSchema", "http://www.aiim.org/pdfa/ns/property#": "pdfaProperty",
    "http://ns.adobe.com/illustrator/1.0/": "illustrator", "http://ns.microsoft.com/photo/1.0/": "MicrosoftPhoto",
    "http://ns.google.com/photos/1.0/camera/": "GCamera", "http://www.npes.org/pdfx/ns/id/": "pdfxid",
    "http://prismstandard.org/namespaces/basic/3.0/": "prism",
}
MAX_XMP_DEPTH = 8


def qualified_name(clark: str, prefixes: dict[str, str] | None = None) -> str:
    """{uri}local -> prefix:local with the document's own prefix or a well-known one; else unchanged."""
    if not clark.startswith("{"):
        return clark
    uri, _, local = clark[1:].partition("}")
    prefix = (prefixes or {}).get(uri) or XMP_PREFIXES.get(uri)
    return f"{prefix}:{local}" if prefix else clark


def xmp_properties(packet: bytes) -> tuple[dict[str, Any], str | None]:
    """Every property of an XMP packet as {prefix:name: value}, parsed with defusedxml; and any error."""
    props, _, error = xmp_parse(packet)
    return props, error


def xmp_parse(packet: bytes) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """Properties, the packet's own namespace prefixes (uri -> prefix), and the parse error if any."""
    start = packet.find(b"<")
    end = packet.rfind(b">")
    if start < 0 or end < start:
        return {}, {}, "no XML in the XMP packet"
    prefixes: dict[str, str] = {}
    root = None
    try:
        for event, item in DET.iterparse(io.BytesIO(packet[start:end + 1]), events=("start-ns", "end")):
            if event == "start-ns":
                prefixes.setdefault(item[1], item[0])
            else:
                root = item
    except defusedxml.DefusedXmlException as e:
        return {}, prefixes, f"{type(e).__name__}: {e}"[:300]
    except (DET.ParseError, ValueError, UnicodeError) as e:
        return {}, prefixes, f"{type(e).__name__}: {e}"[:300]
    if root is None:
        return {}, prefixes, "empty XMP packet"
    props: dict[str, Any] = {}
    rdfs = [root] if root.tag == f"{{{RDF}}}RDF" else list(root.iter(f"{{{RDF}}}RDF"))
    for rdf in rdfs:
        for desc in rdf:
            if desc.tag != f"{{{RDF}}}Description":
                continue
            for key, value in _resource(desc, prefixes, 0).items():
                props.setdefault(key, value)
            if len(props) >= MAX_META * 4:
                return props, prefixes, "XMP packet has too many properties; cut"
    return props, prefixes, None


def _resource(node: Any, prefixes: dict[str, str], depth: int) -> dict[str, Any]:
    """The properties of an rdf:Description or a parseType=Resource node: attributes, then children."""
    out: dict[str, Any] = {}
    for key, value in node.attrib.items():
        if not key.startswith((f"{{{RDF}}}", f"{{{XML_NS}}}")):
            out[qualified_name(key, prefixes)] = cap(value)
    for child in node:
        if child.tag == f"{{{RDF}}}Description":  # a typed-node struct
            out.update(_resource(child, prefixes, depth + 1))
            continue
        if isinstance(child.tag, str):
            out[qualified_name(child.tag, prefixes)] = _xmp_value(child, prefixes, depth + 1)
    return out


def _xmp_value(node: Any, prefixes: dict[str, str], depth: int) -> Any:
    if depth > MAX_XMP_DEPTH:
        return "<nested>"
    resource = node.get(f"{{{RDF}}}resource")
    if resource is not None:
        return cap(resource)
    if node.get(f"{{{RDF}}}parseType") == "Resource":
        return _resource(node, prefixes, depth)
    children = [c for c in node if isinstance(c.tag, str)]
    if not children:
        extra = {k: v for k, v in node.attrib.items() if not k.startswith((f"{{{RDF}}}", f"{{{XML_NS}}}"))}
        if extra:
            return _resource(node, prefixes, depth)
        return cap(node.text or "")
    first = children[0]
    kind = first.tag.rsplit("}", 1)[-1] if first.tag.startswith(f"{{{RDF}}}") else None
    if kind in ("Seq", "Bag", "Alt"):
        items = [_xmp_value(li, prefixes, depth + 1) for li in first if isinstance(li.tag, str)][:MAX_META]
        if kind == "Alt":
            langs = [li.get(f"{{{XML_NS}}}lang") for li in first if isinstance(li.tag, str)]
            if "x-default" in langs:
                return items[langs.index("x-default")]
            return items[0] if items else ""
        return items
    if first.tag == f"{{{RDF}}}Description":
        return _resource(first, prefixes, depth)
    return _resource(node, prefixes, depth)
