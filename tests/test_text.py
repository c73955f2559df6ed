from assistant.sparse import document_vector, query_vector, term_index
from assistant.text import content_stems, mark_terms, split_sentences, stem


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


def test_sparse_vectors_share_term_indices_and_saturate_tf():
    doc = document_vector("acque acque acque reflue Palestina")
    q = query_vector("acqua Palestina")
    assert set(q.indices) <= set(doc.indices)
    weights = dict(zip(doc.indices, doc.values))
    assert weights[term_index(stem("acque"))] > weights[term_index(stem("reflue"))]
    assert weights[term_index(stem("acque"))] < 3 * weights[term_index(stem("reflue"))]
    assert query_vector("il della per").indices == []
