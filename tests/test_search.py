"""Hybrid search over corpus/ with the real model and store."""

import pytest

from assistant.search.retrieval import Searcher
from assistant.storage.filters import Filters

# (query, expected first document); the last group shares (almost) no word with the text.
CASES = [
    ("acque reflue Palestina", "000_f83177014e1fe298"),
    ("acquedotto Oujda", "002_dec2f4423c44d8fd"),
    ("consulta cooperazione decentrata Piemonte", "003_0fefe2eb825e6ecf"),
    ("rifiuti Kasserine", "002_dec2f4423c44d8fd"),
    ("elenco di esperti", "000_f83177014e1fe298"),
    ("documento di orientamento 2022/2024", "001_252956eb12610fe1"),
    ("PON GAS Mezzogiorno", "004_1678c57870a75ba5"),
    ("Benin associazione comuni", "003_0fefe2eb825e6ecf"),
    ("gemellaggio Romania", "002_dec2f4423c44d8fd"),
    ("depurazione degli scarichi fognari nei territori palestinesi", "000_f83177014e1fe298"),
    ("come candidarsi come consulente", "000_f83177014e1fe298"),
    ("amministrazioni del sud Italia che collaborano all'estero", "004_1678c57870a75ba5"),
    ("sindaci piemontesi e paesi in via di sviluppo", "003_0fefe2eb825e6ecf"),
    ("water supply in rural Morocco", "002_dec2f4423c44d8fd"),
]


@pytest.mark.parametrize("query,doc_id", CASES)
def test_right_document_first(corpus_store, query, doc_id):
    assert Searcher(corpus_store).search(query, k=3).hits[0].doc_id == doc_id


def test_one_result_per_document_by_default(corpus_store):
    page = Searcher(corpus_store).search("progetto cooperazione Toscana", k=10)
    ids = [h.doc_id for h in page.hits]
    assert len(ids) == len(set(ids)) == page.total == 5
    every = Searcher(corpus_store).search("progetto cooperazione Toscana", k=50, per_document=False)
    assert every.total > page.total
    assert len({h.passage_id for h in every.hits}) == len(every.hits)


def test_hits_carry_fields_and_marks(corpus_store):
    hit = Searcher(corpus_store).search("acquedotto Oujda", k=1).hits[0]
    assert hit.title and hit.organisation == "Confservizi Cispel Toscana" and hit.score > 0
    assert "<mark>Oujda</mark>" in hit.highlighted
    assert "Oujda" in hit.text


def test_filters_by_organisation_country_and_year(corpus_store):
    s = Searcher(corpus_store)
    hits = s.search("progetti", k=10, filters=Filters(organisations=["anci toscana"])).hits
    assert {h.doc_id for h in hits} == {"000_f83177014e1fe298"}
    hits = s.search("progetti", k=10, filters=Filters(countries=["Marocco"])).hits
    assert {h.doc_id for h in hits} == {"002_dec2f4423c44d8fd"}
    hits = s.search("progetti", k=10, filters=Filters(year_from=2010, year_to=2011)).hits
    assert {h.doc_id for h in hits} == {"004_1678c57870a75ba5"}


def test_offset_pages_through_documents(corpus_store):
    s = Searcher(corpus_store)
    first = s.search("cooperazione", k=2).hits
    second = s.search("cooperazione", k=2, offset=2).hits
    assert not {h.doc_id for h in first} & {h.doc_id for h in second}


def test_sparse_and_dense_modes_differ_where_words_are_missing(corpus_store):
    s = Searcher(corpus_store)
    assert s.search("come candidarsi come consulente", mode="sparse").hits == []
    assert s.search("come candidarsi come consulente", mode="dense").hits[0].doc_id == "000_f83177014e1fe298"


def test_query_vectors_are_cached_per_searcher_and_bounded(monkeypatch):
    import assistant.search.retrieval as retrieval

    calls: list[str] = []
    real = retrieval.embed_queries
    monkeypatch.setattr(retrieval, "embed_queries", lambda texts: calls.append(texts[0]) or real(texts))
    cache = retrieval.QueryCache(2)
    first = cache.encode("acqua potabile a Gaza")
    assert cache.encode("acqua potabile a Gaza") is first and calls == ["acqua potabile a Gaza"]
    cache.encode("rifiuti a Tunisi")
    cache.encode("scuole a Betlemme")  # the oldest one goes
    cache.encode("acqua potabile a Gaza")
    assert calls.count("acqua potabile a Gaza") == 2
    off = retrieval.QueryCache(0)
    off.encode("rifiuti a Tunisi")
    off.encode("rifiuti a Tunisi")
    assert calls.count("rifiuti a Tunisi") == 3
