"""Reader: PDF. Structure and metadata with pikepdf, revisions with our own bounded parser, text with pdfium.

syntax: a tiny tokenizer; revisions: the cross-reference chain; objects: pikepdf values as metadata;
structure: what pikepdf tells of the document; reader: the reader and the text.
"""

from .reader import PdfReader

READERS: list[type] = [PdfReader]
