"""Structure that ingest keeps (tables, fields, lists, wrapped lines) and the answers it makes possible (#23)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answers.respell import respell
from assistant.answers.service import AskService
from assistant.core.fuzzy import OneEdit, within_one
from assistant.core.text import split_sentences
from ingest.cleaning import clean_text
from ingest.loading import load_file, unwrap_lines
from ingest.structure import html_fields, join_lists, table_rows

from .conftest import make_settings
from .filemakers import make_docx

UNSEEN = Path(__file__).resolve().parent.parent / "eval" / "unseen"


def test_a_table_row_carries_its_column_headers():
    rows = table_rows(["Piano finanziario:", "| Voce | Regione Lombardia | Comune di Bergamo |", "|---|---|---|",
                       "| Formazione | 12.000 | 6.000 |", "| Totale | 52.000 | 16.000 |", "Fine."])
    assert rows == ["Piano finanziario:", "Formazione — Regione Lombardia: 12.000; Comune di Bergamo: 6.000.",
                    "Totale — Regione Lombardia: 52.000; Comune di Bergamo: 16.000.", "Fine."]
    # a two-column table whose first row is data is a list of fields
    assert table_rows(["| Capofila | Comune di Prato |", "| --- | --- |", "| Durata | 24 mesi |"]) == [
        "Capofila: Comune di Prato.", "Durata: 24 mesi."]


def test_docx_tables_become_rows_with_headers(tmp_path):
    import docx

    d = docx.Document()
    d.add_paragraph("Il piano finanziario del progetto è il seguente.")
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([["Voce di spesa", "Regione", "Totale"], ["Formazione", "5.000", "7.000"],
                             ["Pozzi", "9.000", "9.500"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.save(str(tmp_path / "t.docx"))
    text = clean_text(load_file(tmp_path / "t.docx").text)
    assert "Formazione — Regione: 5.000; Totale: 7.000." in text.split("\n")
    assert "Voce di spesa" not in text  # the header row is in every row, not a line of its own


def test_fields_and_lists_stay_with_their_labels():
    page = ("<html><body><main><p>Il bando della Regione.</p><dl><dt>Termine per le domande</dt>"
            "<dd>30 aprile 2026</dd><dt>Dotazione</dt><dd>200.000 euro</dd></dl></main></body></html>")
    assert "<p>Termine per le domande: 30 aprile 2026</p>" in html_fields(page)
    assert join_lists(["Sono stati individuati i seguenti strumenti:", "- Forum dei giovani", "- Tavoli tematici",
                       "Il resto."]) == ["Sono stati individuati i seguenti strumenti: Forum dei giovani; "
                                         "Tavoli tematici.", "Il resto."]
    # a label with one value is a field, not a list
    assert join_lists(["Destinatari:", "giovani tra 18 e 35 anni", "Scadenza: 1 marzo"]) == [
        "Destinatari:", "giovani tra 18 e 35 anni", "Scadenza: 1 marzo"]
    assert clean_text("Data Fine:\n30/09/2012") == "Data Fine: 30/09/2012"


def test_pdf_lines_broken_mid_sentence_are_joined_and_labels_start_lines():
    text = "\n".join(["Banca dati progetti di cooperazione internazionale della Regione - scheda n. 214",
                      "Titolo progetto:", "Educazione ambientale nelle scuole", "Descrizione:",
                      "il Comune collabora dal 2019 con la", "Municipalità di Bafatá nel settore",
                      "dell'istruzione primaria.", "LA GIUNTA COMUNALE", "premesso che il Comune aderisce;",
                      "Progetto Spazio giovani - Comune di Rovereto e Comune di Peja", "(Kosovo)"])
    lines = unwrap_lines(text).split("\n")
    assert "il Comune collabora dal 2019 con la Municipalità di Bafatá nel settore dell'istruzione primaria." in lines
    assert "Titolo progetto:" in lines and "Descrizione:" in lines and "LA GIUNTA COMUNALE" in lines
    assert "Progetto Spazio giovani - Comune di Rovereto e Comune di Peja (Kosovo)" in lines


def test_a_parenthesis_after_a_full_stop_stays_with_its_sentence():
    assert split_sentences("Approvato il programma 2025-2027. (DGR n. 245/2025). Il bando apre a maggio.") == [
        "Approvato il programma 2025-2027. (DGR n. 245/2025).", "Il bando apre a maggio."]


def test_one_slip_finds_the_word_and_respell_uses_the_passages_words():
    assert within_one("sndaco", "sindaco") and within_one("tirocnii", "tirocini") and not within_one("alba", "bra")
    index = OneEdit(["sindaco", "liguria", "lebanon"])
    assert index.match("sndaco") == "sindaco" and index.match("ligria") == "liguria" and index.match("bra") is None
    passages = ["Sono disponibili 6 tirocini in Perù.", "La maternità di Djougou è costata 95.000 euro."]
    assert respell("quanti tiroini x la maternita di djougou", passages) == \
        "quanti tirocini per la maternità di djougou"
    # a word the passages hold, or a frequent word, is left as typed; so is a slip two words are as close to
    assert respell("quanti tirocini", passages) == "quanti tirocini"
    assert respell("chi guida", ["Il Comune guida."]) == "chi guida"


@pytest.fixture(scope="module")
def structured_store(tmp_path_factory):
    """The unseen documents (tables, fields, a newsletter, a PDF with broken lines) plus a list after a colon."""
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    extra = tmp_path_factory.mktemp("extra")
    make_docx(extra / "forum_giovani_cuneo.docx", "Consulta dei giovani di Cuneo per la cooperazione", [
        "Il Comune di Cuneo ha avviato nel 2025 un percorso di partecipazione dei giovani alla cooperazione "
        "decentrata con il Burkina Faso.",
        "Per coinvolgere i giovani sono stati individuati i seguenti strumenti:",
        "- Forum annuale dei giovani", "- Tavoli tematici nelle scuole superiori", "- Bando per microprogetti",
        "Il percorso è coordinato dall'Ufficio Pace del Comune di Cuneo."])
    settings = make_settings(tmp_path_factory.mktemp("structured-data"))
    store = Store(settings)
    summary = Ingestor(store, settings).run([UNSEEN / "docs", extra])
    assert summary.failed == 0
    yield store
    store.close()


@pytest.mark.parametrize("question, fact, doc", [
    ("Quanto mette il Comune di Bergamo per la formazione dei tecnici?", "6.000", "u13_"),  # a table cell
    ("Quanto costa in totale il progetto Acqua e competenze a Koudougou?", "80.000", "u13_"),  # the Totale row
    ("Quando è finito il progetto di educazione ambientale a Durazzo?", "30/09/2012", "u17_"),  # a field block
    ("Qual è il termine per le domande del bando di cooperazione sanitaria della Regione Toscana?",
     "30 aprile 2026", "u14_"),  # a <dl>
    ("Con quale delibera la Regione Emilia-Romagna ha approvato il programma di cooperazione decentrata "
     "2025-2027?", "245/2025", "u15_"),  # a parenthesis after the sentence, in a PDF with broken lines
    ("Quanto destina il Comune di Reggio Emilia al progetto Scuole aperte a Bafatá?", "35.000 euro", "u15_"),
    ("Quali strumenti ha individuato il Comune di Cuneo per coinvolgere i giovani?", "Tavoli tematici", "forum_"),
    ("What is the deadline of the Tuscany health cooperation call?", "30 aprile 2026", "u14_"),  # English
    ("ciao, quanto costa in totale il progetto acqua e competenze a koudougou", "80.000", "u13_"),
    ("quando e finito il progetto di educazione ambientale a durazo", "30/09/2012", "u17_"),  # a typo
    ("quanto e costata la maternita costruita a djougou x il comne di bra", "95.000 euro", "u08_"),  # two slips
    ("ciao, quanti tiroini sono disponibili in peru con il bando giovani in cooperazione", "6 in Perù", "u06_"),
])
def test_structured_content_answers(structured_store, question, fact, doc):
    ans = AskService(structured_store, structured_store.settings).ask(question)
    assert not ans.abstained and fact in ans.answer, ans.answer
    assert ans.citations[0].doc_id.startswith(doc)


@pytest.mark.parametrize("question, kinds", [
    # Siena is in another news of the same page, the ambulances in another again
    ("Quante ambulanze ha donato il Comune di Siena a Tiro?", {"organisation", "topic"}),
    ("quante ambulanze ha donato il comune di siena a tiro", {"organisation", "topic"}),
    ("ciao, quanto mette il comune di brescia x la formazione dei tecnici a koudougou", {"organisation"}),
    ("How much does the Municipality of Brescia give for technician training in Koudougou?", {"place", "name"}),
    ("Combien la Commune de Brescia donne-t-elle pour la formation à Koudougou?", {"place", "name"}),
    ("Con quale città ha firmato il gemellaggio il Comune di Livorno?", {"organisation", "topic"}),
    ("ciao, chi e il sndaco di scutari", {"role"}),  # a slip in the role, a name only its document has
    ("quando e finito il progetto di educazione ambientale a valona", {"name"}),  # a place no gazetteer holds
    ("qual e il rimborso mensile del bando giovani in cooperazione della regione ligria", {"organisation"}),
])
def test_near_misses_on_structured_content_abstain(structured_store, question, kinds):
    ans = AskService(structured_store, structured_store.settings).ask(question)
    assert ans.abstained and not ans.citations, ans.answer
    assert ans.unsupported["constraint"]["kind"] in kinds


def test_a_french_question_is_answered_right_or_not_at_all(structured_store):
    svc = AskService(structured_store, structured_store.settings)
    for question, fact in {"Quelle est la date limite du bando de coopération sanitaire de la Région Toscane?":
                           "30 aprile 2026", "Combien coûte au total le projet à Koudougou?": "80.000"}.items():
        ans = svc.ask(question)
        assert ans.abstained or (fact in ans.answer and ans.citations), ans.answer


def test_a_list_question_gathers_one_cited_line_per_document(structured_store):
    ans = AskService(structured_store, structured_store.settings).ask("quali progetti ci sono in libano")
    docs = [c.doc_id for c in ans.citations]
    assert not ans.abstained and len(docs) == len(set(docs)) >= 2
    assert {"u05_news_comuni_emilia_libano", "u16_newsletter_anci_toscana_dicembre"} <= set(docs)
    assert all("Libano" in c.quote for c in ans.citations)
    assert ans.answer.count("\n- «") == len(docs)
