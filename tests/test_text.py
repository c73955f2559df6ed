import html

from assistant.core.text import content_stems, is_stop, mark_terms, snippet, split_sentences, stem, words
from assistant.models.bm25 import document_vector, query_vector, term_index


def test_stems_meet_across_inflections_and_skip_stopwords():
    assert stem("acque") == stem("acqua")
    assert stem("progetti") == stem("progetto")
    assert "il" not in " ".join(content_stems("il progetto della città"))
    assert content_stems("dell'acqua") == [stem("acqua")]


def test_sentences_split_on_italian_boundaries_and_lines():
    text = "Il Comune (Dott. Rossi) guida il progetto. Esso assomma a 218.000 euro.\nData Inizio: 14/05/2010"
    assert split_sentences(text) == [
        "Il Comune (Dott. Rossi) guida il progetto.",
        "Esso assomma a 218.000 euro.",
        "Data Inizio: 14/05/2010",
    ]


def test_marks_query_words_and_escapes_html():
    out = mark_terms("Le acque reflue <b> di Gaza", "acqua reflua")
    assert out == "Le <mark>acque</mark> <mark>reflue</mark> &lt;b&gt; di Gaza"


def _mark_word_by_word(text: str, query: str) -> str:
    """The plain definition: every word token of text, marked when its stem is a content stem of query."""
    wanted = set(content_stems(query))
    out, pos = [], 0
    for m in words(text):
        if wanted and not is_stop(m.group(0)) and stem(m.group(0)) in wanted:
            out += [html.escape(text[pos : m.start()]), f"<mark>{html.escape(m.group(0))}</mark>"]
            pos = m.end()
    return "".join(out) + html.escape(text[pos:])


def test_marks_only_whole_words_and_numbers_as_the_tokenizer_cuts_them():
    text = ("Costo: 1.300 euro, non 300 né 1.3009; l'acqua (acque2) & <acquedotto> \"acqua\" 300,5 e 1300 "
            "amp &amp; Acque")
    for query in ("acqua 300", "1.300 euro acqua", "costo amp", "1300", "acquedotto 300,5", "il della"):
        assert mark_terms(text, query) == _mark_word_by_word(text, query), query
    assert "1.<mark>300</mark>" not in mark_terms(text, "300")
    assert mark_terms(text, "il della") == html.escape(text)
    window = snippet("parola " * 80 + "le acque reflue di Gaza " + "altro " * 80, "acqua reflua")
    assert "<mark>acque</mark> <mark>reflue</mark>" in window and window.startswith("…") and window.endswith("…")


def test_sparse_vectors_share_term_indices_and_saturate_tf():
    doc = document_vector("acque acque acque reflue Palestina")
    q = query_vector("acqua Palestina")
    assert set(q.indices) <= set(doc.indices)
    weights = dict(zip(doc.indices, doc.values))
    assert weights[term_index(stem("acque"))] > weights[term_index(stem("reflue"))]
    assert weights[term_index(stem("acque"))] < 3 * weights[term_index(stem("reflue"))]
    assert query_vector("il della per").indices == []
