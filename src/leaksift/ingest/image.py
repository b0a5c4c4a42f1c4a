"""Readers: image (to be written)."""

READERS: list[type] = []
