"""`assistant reindex`: rebuild a store's passage vectors with the configured embedder, beside the live index.

The new index is written into its own collection (`<collection>__reindex`), one document at a time, so a run cut
short resumes where it stopped (documents already there at the same version are skipped). The live index is
never changed meanwhile:
- with the embedded engine and the API running (it holds the store), the documents are read from a snapshot
  copy while the API keeps serving the old index; once the new one is complete, stop the API and run the command
  again: it adds what changed meanwhile and swaps the two indexes (a marker makes the swap finish even if it is
  cut short);
- with a Qdrant server, `--into NAME` builds collection NAME; point ASSISTANT_COLLECTION at it when it is done.
Sparse (BM25) vectors and the e5 sentence vectors of answer selection are kept as they are: they do not depend on
the retrieval embedder.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

from assistant.core.config import Settings
from assistant.models.embedders import Embedder, embedder_for
from assistant.storage import layout
from assistant.storage.engines.base import IN_USE
from assistant.storage.layout import SUFFIX, edge_paths, swap_in
from assistant.storage.records import DocumentRecord, EmbedderMismatch, StoreUnavailable
from assistant.storage.store import Store

log = logging.getLogger("assistant.storage.reindex")



@dataclass
class ReindexResult:
    documents: int  # documents in the new index
    embedded: int  # documents (re)embedded by this run
    passages: int  # passages embedded by this run
    swapped: bool  # the new index replaced the live one
    target: str  # the collection holding the new index


def reindex(settings: Settings, into: str | None = None, progress: bool = True,
            echo: Callable[[str], None] = print, embedder: Embedder | None = None) -> ReindexResult:
    embedder = embedder or embedder_for(settings)
    collection = settings.collection
    if settings.qdrant_url and not into:
        raise StoreUnavailable("con un server Qdrant l'indice nuovo va in un'altra collezione: "
                               "`assistant reindex --into NOME`, poi ASSISTANT_COLLECTION=NOME")
    target_name = into or f"{collection}{SUFFIX}"
    snapshot = None
    try:
        source = Store(settings, check_embedder=False, embedder=embedder)
    except StoreUnavailable as exc:
        if settings.qdrant_url or IN_USE not in str(exc):
            raise
        snapshot = layout.snapshot(settings, collection)  # the API holds the store: read a copy, leave it serving
        source = Store(settings.model_copy(update={"data_dir": snapshot}), check_embedder=False, embedder=embedder)
        echo("l'API usa l'indice: leggo una copia dei documenti, l'indice attuale resta in servizio")
    try:
        if source.built_by == embedder.identity and not into:
            echo(f"l'indice è già costruito con {embedder.identity.describe()}: niente da fare")
            return ReindexResult(len(source.documents()), 0, 0, False, collection)
        target = _open_target(settings, target_name, embedder)
        try:
            embedded, passages = _copy(source, target, embedder, settings, progress)
            total = len(target.documents())
            target.optimize()
        finally:
            target.close()
    finally:
        source.close()
        if snapshot is not None:
            shutil.rmtree(snapshot, ignore_errors=True)
    if into or snapshot is not None:
        if snapshot is not None:
            echo("indice nuovo pronto. Ferma l'API e rilancia `assistant reindex`: aggiunge i documenti cambiati "
                 "nel frattempo e scambia gli indici; poi riavvia l'API con il nuovo modello.")
        else:
            echo(f"indice nuovo pronto nella collezione {target_name}: imposta ASSISTANT_COLLECTION={target_name} "
                 "e riavvia l'API")
        return ReindexResult(total, embedded, passages, False, target_name)
    swap_in(settings, collection)
    echo(f"indice ricostruito con {embedder.identity.describe()}: {total} documenti")
    return ReindexResult(total, embedded, passages, True, collection)


def _open_target(settings: Settings, name: str, embedder: Embedder) -> Store:
    try:
        return Store(settings, collection=name, embedder=embedder)
    except EmbedderMismatch:
        # A rebuild begun for another model: start again.
        if settings.qdrant_url:
            raise
        for path in edge_paths(settings, name):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        return Store(settings, collection=name, embedder=embedder)


def _copy(source: Store, target: Store, embedder: Embedder, settings: Settings, progress: bool) -> tuple[int, int]:
    from haystack import Document
    from tqdm import tqdm

    from assistant.models.bm25 import BM25DocumentEncoder
    from assistant.models.e5 import DenseDocumentEmbedder

    # The ingest pipeline's own components: the same passage text, BM25 weights and batching as indexing.
    sparse = BM25DocumentEncoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avgdl)
    dense = DenseDocumentEmbedder(embedder.passages, batch_size=16)

    live = {r.doc_id: r for r in source.documents()}
    for rec in target.documents():
        if rec.doc_id not in live:
            target.delete_document(rec.doc_id)  # deleted from the live index meanwhile
    todo = [r for r in live.values() if (t := target.get(r.doc_id)) is None or t.version != r.version]
    embedded = passages = 0
    for rec in tqdm(todo, desc="reindex", unit="documento", file=sys.stderr, disable=not progress):
        stored = source.passages_of(rec.doc_id)
        if not stored:
            continue
        docs = []
        for p in stored:
            meta = {k: v for k, v in p.meta.items() if k != "version"}
            docs.append(Document(content=p.content, meta=meta))
        docs = dense.run(sparse.run(docs)["documents"])["documents"]
        record = DocumentRecord(**{**rec.__dict__})
        target.write_document(record, docs)
        embedded += 1
        passages += len(docs)
    return embedded, passages
