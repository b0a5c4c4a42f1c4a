"""Readers: outlook (to be written)."""

READERS: list[type] = []
