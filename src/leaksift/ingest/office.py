"""Readers: office (to be written)."""

READERS: list[type] = []
