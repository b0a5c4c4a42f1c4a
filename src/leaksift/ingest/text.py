"""Readers: text (to be written)."""

READERS: list[type] = []
