"""Shared test helpers: the reference corpus, sample leaks, and reading items back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("LEAKSIFT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def shared_corpus(*parts: str) -> Path:
    """A folder of ../shared/corpus, or skip: a user's clone does not have it."""
    path = SHARED.joinpath("corpus", *parts)
    if not path.exists():
        pytest.skip(f"reference corpus {path} is absent (it lives in ../shared beside the checkout)")
    return path


@pytest.fixture
def corpus():
    return shared_corpus
