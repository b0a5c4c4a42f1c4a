"""Readers of Outlook files: one message (.msg, an OLE compound file) and a mail store (.pst/.ost).

Outlook keeps a message as MAPI properties, not as the bytes that travelled: the body is re-stored (plain,
HTML or compressed RTF) and only the transport headers survive as they were received. Both readers mark
their output "outlook_restored", so that a later DKIM check knows the body is not the original.

mapi: property access and code pages; fields: EmailFields; body: stored bodies; msg, pst: the readers;
rebuild: a pst message as RFC 822 bytes.
"""

from .msg import MsgReader
from .pst import PstReader

READERS: list[type] = [MsgReader, PstReader]
