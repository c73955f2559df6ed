"""Sentence vectors added to stored passages after their document is committed (the answer selector reads them)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from assistant.storage.records import passage_id, record_id

log = logging.getLogger("assistant.storage.enrichment")


class SentenceVectors:
    """Part of `Store`: which documents lack sentence vectors, and adding them one document at a time."""

    def documents_without_sentence_vectors(self) -> list[str]:
        with self._lock:
            return sorted(d for d, rec in self._live.items() if not rec.sentence_vectors)

    def add_sentence_vectors(self, doc_id: str, embed) -> bool:
        """Give a live document's passages the e5 vectors of their sentences (`embed(sentences) -> array`), then
        flag its record. Work done for a version replaced meanwhile is dropped. Returns whether it was done."""
        from assistant.core.text import split_sentences
        from assistant.models.e5 import pack_vectors

        rec = self.get(doc_id)
        if rec is None or rec.sentence_vectors:
            return False
        todo = []
        for p in self.passages_of(doc_id):
            if p.version != rec.version:
                return False
            if not p.meta.get("sentence_vectors"):  # stores indexed with vectors at ingest already have them
                sentences = p.meta.get("sentences") or split_sentences(p.content)
                todo.append((passage_id(doc_id, p.version, p.position), pack_vectors(embed(sentences))))
        with self._write_gate, self._lock:
            live = self._live.get(doc_id)
            if live is None or live.version != rec.version:
                return False
            for pid, packed in todo:
                self.engine.set_passage_meta([pid], {"sentence_vectors": packed})
            live.sentence_vectors = True
            self.engine.put_record(record_id(doc_id), asdict(live))
        return True

    def enrich_step(self, embed) -> bool:
        """Add sentence vectors to one document that lacks them; returns whether any are left to do."""
        todo = self.documents_without_sentence_vectors()
        if not todo:
            return False
        started = time.perf_counter()
        if self.add_sentence_vectors(todo[0], embed):
            log.info("sentence_vectors", extra={"fields": {"doc_id": todo[0],
                                                           "seconds": time.perf_counter() - started,
                                                           "left": len(todo) - 1}})
        return len(todo) > 1
