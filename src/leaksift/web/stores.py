"""One case store per worker thread: SQLite connections cannot cross threads, and opening one per request costs."""

from __future__ import annotations

import threading
from typing import Iterator

from ..store import CaseStore, open_store


class StorePool:
    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[CaseStore] = []

    def get(self) -> CaseStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.url)
            store.read_mostly()
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def dependency(self) -> Iterator[CaseStore]:
        yield self.get()

    def close(self) -> None:
        # Connections opened by other threads are closed by the interpreter when those threads end.
        with self._lock:
            stores, self._all = self._all, []
        for store in stores:
            try:
                store.close()
            except Exception:  # noqa: BLE001 - a connection owned by another thread refuses; nothing to do
                pass
