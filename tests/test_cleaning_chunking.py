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


def test_boilerplate_lines_of_markdown_and_text_pages_are_dropped():
    page = "\n".join([
        "Area riservata", "Home > Bandi e avvisi > Cooperazione internazionale",
        "Questo sito utilizza cookie tecnici. Proseguendo la navigazione accetti l'uso dei cookie.",
        "# Avviso per esperti", "La Regione Umbria cerca esperti per Kairouan.",
        "Tutti i diritti riservati | Note legali | Privacy", "Seguici su Facebook · Instagram · YouTube",
        "Condividi: Facebook | X | WhatsApp",
    ])
    cleaned = clean_text(page)
    assert cleaned.splitlines() == ["# Avviso per esperti", "La Regione Umbria cerca esperti per Kairouan."]
    # a sentence that merely mentions cookies or legal notes in a longer text stays
    assert clean_text("Il Comune ha pubblicato le note legali del bando, con i requisiti.") != ""


def test_pdf_lines_wrapped_at_the_margin_are_joined(tmp_path):
    from ingest.loading import unwrap_lines

    text = ("Art. 1 - Finalità\nLa Regione sostiene i progetti di cooperazione decentrata promossi dai Comuni\n"
            "marchigiani, singoli o associati, in partenariato con enti locali dei paesi partner e con le\n"
            "associazioni.\nArt. 2 - Dotazione finanziaria\nLa dotazione complessiva del bando è di 600.000 euro.")
    lines = unwrap_lines(text).splitlines()
    assert lines[0] == "Art. 1 - Finalità" and lines[2] == "Art. 2 - Dotazione finanziaria"
    assert lines[1].startswith("La Regione sostiene") and lines[1].endswith("associazioni.")


def test_project_sheet_title_comes_from_its_titolo_field(tmp_path):
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    from .conftest import make_settings
    from .filemakers import make_docx

    path = make_docx(tmp_path / "scheda.docx", "SCHEDA DI PROGETTO",
                     ["Titolo: Acqua pulita per Ndiaganiao", "Ente capofila: Comune di Poggibonsi",
                      "Il progetto porta acqua potabile a sei villaggi del Comune di Ndiaganiao."])
    settings = make_settings(tmp_path / "data")
    store = Store(settings)
    try:
        record, _ = Ingestor(store, settings).index_bytes(path.read_bytes(), path.name)
        assert record.title == "Acqua pulita per Ndiaganiao"
    finally:
        store.close()
