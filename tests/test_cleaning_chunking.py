from ingest.chunking import chunk_text
from ingest.cleaning import clean_text

from .conftest import CORPUS


def test_boilerplate_removed_and_whitespace_collapsed():
    raw = "Scrivi a Questo indirizzo email è protetto dagli spambots. È necessario abilitare JavaScript per vederlo.   ora.\n\n\n\nFine"
    out = clean_text(raw)
    assert "spambots" not in out and "JavaScript" not in out
    assert "   " not in out and "\n\n\n" not in out
    assert out.endswith("Fine")


def test_glued_heading_is_separated_but_abbreviations_are_not():
    out = clean_text("crescita sostenibile.L'ACCORDO CON LA GIUNTA REGIONALE\nTesto.Poi altro. Le EE.LL. del Sud")
    assert "sostenibile.\nL'ACCORDO CON LA GIUNTA REGIONALE" in out
    assert "Testo. Poi altro." in out
    assert "EE.LL." in out


def test_label_and_value_lines_are_joined():
    assert "Data Inizio: 14/05/2010" in clean_text("Data Inizio:\n14/05/2010\nData Fine:\n30/09/2012")


def test_corpus_chunks_are_within_bounds_with_overlap_and_headings():
    text = clean_text((CORPUS / "000_f83177014e1fe298.txt").read_text(encoding="utf-8"))
    chunks = chunk_text(text, 120, 250, 1)
    assert len(chunks) >= 3
    for body, _ in chunks[:-1]:
        assert 120 <= len(body.split()) <= 250
    # one sentence of overlap: each chunk starts with the last sentence of the previous one
    first, second = chunks[0][0], chunks[1][0]
    assert second.split(". ")[0][:40] in first
    assert any(heading == "IL SISTEMA TOSCANO" for _, heading in chunks)


def test_long_unpunctuated_text_is_cut_into_bounded_passages():
    text = " ".join(f"parola{i}" for i in range(1000))
    chunks = chunk_text(text, 120, 250, 1)
    assert len(chunks) >= 4
    assert all(len(body.split()) <= 250 for body, _ in chunks)
