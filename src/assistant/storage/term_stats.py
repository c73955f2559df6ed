"""BM25 term statistics over live passages: kept up to date on each write and saved beside the store."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from assistant.storage.engines.base import Match
from assistant.storage.layout import terms_path
from assistant.storage.records import DocumentRecord


class TermStatistics:
    """Part of `Store`: the passage count and document frequency per stem (the answer selector's IDF)."""

    def term_stats(self) -> tuple[int, dict[str, int]]:
        """(passage count, document frequency per stem) over live passages: kept up to date on each write and
        saved beside the store, so a large store does not rescan its passages on start."""
        with self._lock:
            if self._stats is None:
                self._stats = self._scan_stats()
                self._save_stats()
            return self._stats

    def _scan_stats(self) -> tuple[int, dict[str, int]]:
        from assistant.core.text import content_stems

        df: dict[str, int] = {}
        n = 0
        for payload in self.engine.scroll_passages(["content", "meta.doc_id", "meta.version"]):
            if self._live_record(payload) is None:
                continue
            n += 1
            for term in set(content_stems(payload.get("content", ""))):
                df[term] = df.get(term, 0) + 1
        return n, df

    def _count_terms(self, contents: list[str], sign: int) -> None:
        if self._stats is None:
            return
        from assistant.core.text import content_stems

        n, df = self._stats
        for content in contents:
            n += sign
            for term in set(content_stems(content)):
                left = df.get(term, 0) + sign
                if left > 0:
                    df[term] = left
                else:
                    df.pop(term, None)
        self._stats = (n, df)

    def _forget_terms(self, record: DocumentRecord | None) -> None:
        if record is None or self._stats is None:
            return
        contents = [p.get("content", "") for p in self.engine.scroll_passages(
            ["content"], [Match("meta.doc_id", (record.doc_id,)), Match("meta.version", (record.version,))])]
        self._count_terms(contents, -1)

    def _stats_path(self) -> Path:
        return terms_path(self.settings, self.collection)

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        for doc_id in sorted(self._live):
            digest.update(f"{doc_id}\0{self._live[doc_id].version}\n".encode())
        return digest.hexdigest()

    def _read_stats(self) -> tuple[int, dict[str, int]] | None:
        try:
            with gzip.open(self._stats_path(), "rt", encoding="utf-8") as fh:
                saved = json.load(fh)
        except (OSError, ValueError):
            return None
        if saved.get("fingerprint") != self._fingerprint():
            return None  # written before a crash or by another process: rescan when first needed
        return int(saved["passages"]), dict(saved["df"])

    def _save_stats(self) -> None:
        with self._lock:
            if self._stats is None:
                return
            n, df = self._stats
            data = {"fingerprint": self._fingerprint(), "passages": n, "df": df}
        path = self._stats_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as fh:
            json.dump(data, fh)
        tmp.replace(path)
