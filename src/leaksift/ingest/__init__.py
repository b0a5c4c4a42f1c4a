"""Ingest: walk a dump, one reader per container or format, items with raw bytes and provenance."""
