"""Readers: ole (to be written)."""

READERS: list[type] = []
