"""Helpers shared by several readers (no readers here).

html: HTML to visible text; rtf: RTF to text and its \\info group; headers: RFC 2047 and charset decoding;
names: safe, distinct child names; transfer: base64/quoted-printable decoding as streams; xmp: XMP packets;
meta: bounds on metadata values.
"""
