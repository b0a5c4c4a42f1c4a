"""Reader: legacy OLE documents (.doc, .xls, .ppt, other compound files, encrypted OOXML).

Metadata is evidence: both property sets (SummaryInformation, DocumentSummaryInformation with its
second, user-defined section) are decoded with the file's own code page by a small parser of MS-OLEPS
that checks every count and offset against the stream (propset); the OLE directory is listed with
each entry's own times (document). Text comes from the Word piece table (word), xlrd for Excel
(excel) and the text atoms of PowerPoint (powerpoint). Embedded objects (ObjectPool, OLE streams)
are listed in the directory, not yet yielded.
"""

from .reader import OleReader

READERS: list[type] = [OleReader]
