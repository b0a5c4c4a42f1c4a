"""Readers: pdf (to be written)."""

READERS: list[type] = []
