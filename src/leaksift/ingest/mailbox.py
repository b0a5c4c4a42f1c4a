"""Readers: mailbox (to be written)."""

READERS: list[type] = []
