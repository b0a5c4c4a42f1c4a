"""Readers: archives (to be written)."""

READERS: list[type] = []
