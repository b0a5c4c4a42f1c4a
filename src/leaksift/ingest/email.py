"""Readers: email (to be written)."""

READERS: list[type] = []
