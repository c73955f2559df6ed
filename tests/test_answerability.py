"""Answerability: a question's places, organisations, names, years and roles must be in the cited evidence."""

from __future__ import annotations

import json

import httpx
import pytest

from assistant.answers.answerability import Evidence, constraints_of, missing, passage_evidence
from assistant.answers.service import AskService
from assistant.app import create_app

from .conftest import ROOT, LiveServer, make_settings

UNSEEN = ROOT / "eval" / "unseen"


def _kinds(question: str) -> list[tuple[str, str]]:
    return [(c.kind, c.text) for c in constraints_of(question)]


def test_adjectives_and_demonyms_map_to_places():
    for question, place in [("Quali progetti umbri ci sono?", "Umbria"), ("Il bando marchigiano scade?", "Marche"),
                            ("Quali città tunisine collaborano?", "Tunisia"),
                            ("Le associazioni senegalesi partecipano?", "Senegal"),
                            ("What did Tuscany fund?", "Toscana")]:
        assert ("place", place) in _kinds(question), question


def test_place_adjectives_match_whole_forms_not_stems():
    # "campano" and "campo" share a stem; "liberiano" and "liberare" too: neither common word names a place.
    assert _kinds("Perché hanno abbassato il campo?") == []
    assert _kinds("Chi voleva liberare le anime?") == []
    [campania] = constraints_of("Quali progetti campani ci sono?")
    assert campania.text == "Campania"
    assert Evidence.of("le cooperative campane").has(campania)
    assert not Evidence.of("un campo sportivo").has(campania)
    [germany] = constraints_of("Quali aziende tedesche partecipano?")
    assert Evidence.of("un partner tedesco").has(germany)


def test_a_role_is_a_noun_after_a_determiner_not_an_adjective():
    assert [k for k, _ in _kinds("Chi è il responsabile del progetto?")] == ["role"]
    assert _kinds("Chi si è reso responsabile delle violenze?") == []
    assert ("role", "mayor") in _kinds("Who is the mayor of Sfax?")


def test_organisations_roles_and_years_are_constraints():
    assert ("organisation", "Comune di Pesaro") in _kinds("Quanto ha speso il Comune di Pesaro nel 2021?")
    assert ("year", "2021") in _kinds("Quanto ha speso il Comune di Pesaro nel 2021?")
    role = next(c for c in constraints_of("Chi è il sindaco di Scutari?") if c.kind == "role")
    assert role.bound is not None and role.bound.text == "Scutari"
    # the first word and generic words are not constraints
    assert _kinds("Quali progetti finanzia il bando?") == []


def test_evidence_matches_names_exactly_and_adjectives_by_stem():
    [senegal] = constraints_of("Progetti in Senegal?")
    assert Evidence.of("L'associazione dei senegalesi di Poggibonsi").has(senegal)
    [tunisia] = constraints_of("Progetti in Tunisia?")
    assert not Evidence.of("La Municipalità di Tunisi").has(tunisia)  # a city is not its country
    [year] = constraints_of("Che cosa è successo nel 2023?")
    assert Evidence.of("il bilancio di previsione 2022-2024").has(year)
    assert not Evidence.of("nel 2016").has(year)
    [org, _] = constraints_of("Quanto ha speso il Comune di Trento a Peja?")
    assert not passage_evidence("con il sostegno della Provincia autonoma di Trento", {}).has(org)


def test_common_words_are_not_names_and_names_tolerate_one_letter_variants():
    # A capitalised common word is part of a title, not a name the answer must hold (wordfreq list).
    assert _kinds("Quale giorno si è tenuto il Media Day?") == []
    assert ("name", "Legambiente") in _kinds("Qual è il ruolo di Legambiente?")
    [name] = constraints_of("Dove ha attaccato Moncalm?")
    assert Evidence.of("Montcalm attaccò il forte").has(name)
    assert not Evidence.of("Monclar attaccò il forte").has(name)
    [short] = constraints_of("Chi guida ACAL?")
    assert not Evidence.of("ACAP guida il progetto").has(short)  # short names must match exactly


def test_every_country_is_a_place():
    # countries beyond the hand-written table come from CLDR (tools/build_word_data.py)
    assert ("place", "Australia") in _kinds("Quali progetti ci sono in Australia?")
    assert ("place", "Giappone") in _kinds("Chi finanzia il progetto in Giappone?")
    assert ("place", "Giappone") in _kinds("Quali comuni giapponesi partecipano?")


def test_a_role_must_sit_with_whom_it_belongs_to():
    cons = constraints_of("Chi è il sindaco di Scutari?")
    passage = passage_evidence("Presiede la seduta il Sindaco, Andrea Bellucci. Accordo con Scutari.", {})
    window = Evidence.of("Presiede la seduta il Sindaco, Andrea Bellucci.")
    assert [c.kind for c in missing(cons, passage, window)] == ["role"]
    window = Evidence.of("Il sindaco di Scutari, Benet Beci, ha firmato.")
    assert missing(cons, passage_evidence("Il sindaco di Scutari, Benet Beci, ha firmato.", {}), window) == []


@pytest.fixture(scope="module")
def unseen_store(tmp_path_factory):
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    settings = make_settings(tmp_path_factory.mktemp("unseen-data"))
    store = Store(settings)
    summary = Ingestor(store, settings).run([UNSEEN / "docs"])
    assert summary.failed == 0 and summary.indexed >= 12
    yield store
    store.close()


def test_near_miss_country_abstains_and_names_what_the_documents_hold(unseen_store):
    svc = AskService(unseen_store, unseen_store.settings)
    ans = svc.ask("Quanto costa il progetto del Comune di Poggibonsi in Etiopia?")
    assert ans.abstained and ans.citations == []
    assert ans.unsupported["constraint"] == {"kind": "place", "value": "Etiopia"}
    assert "Senegal" in ans.unsupported["near"]["values"]
    assert "Etiopia" in ans.answer and "Senegal" in ans.answer
    right = svc.ask("Quanto costa il progetto del Comune di Poggibonsi in Senegal?")
    assert not right.abstained and right.unsupported is None
    assert "182.500 euro" in right.answer and right.citations[0].doc_id.startswith("u03_")


def test_near_miss_year_organisation_and_role_abstain(unseen_store):
    svc = AskService(unseen_store, unseen_store.settings)
    cases = {"Quanto ha impegnato il Comune di Fano per il progetto con Scutari nel 2021?": "year",
             "Quanto è costata la maternità costruita a Djougou con il Comune di Alba?": "organisation",
             "Chi è il sindaco di Scutari?": "role"}
    for question, kind in cases.items():
        ans = svc.ask(question)
        assert ans.abstained and ans.unsupported["constraint"]["kind"] == kind, (question, ans.answer)
    assert "Issifou Tchabi" in svc.ask("Chi è il sindaco di Djougou?").answer


def test_a_followup_keeps_the_constraints_of_the_question_it_follows(unseen_store):
    svc = AskService(unseen_store, unseen_store.settings)
    first = svc.ask("Quanto costa il progetto del Comune di Poggibonsi in Etiopia?")
    assert first.abstained
    # Still about Ethiopia: the Senegal project's partner is not the answer.
    ans = svc.ask("E con quale associazione di migranti collabora il Comune?", conversation_id=first.conversation_id)
    assert ans.followup and ans.abstained and ans.citations == []
    assert ans.unsupported["constraint"] == {"kind": "place", "value": "Etiopia"}
    # A place of its own replaces the one before.
    ans = svc.ask("E in Senegal con quale associazione di migranti collabora?", conversation_id=first.conversation_id)
    assert ans.followup and not ans.abstained and ans.citations[0].doc_id.startswith("u03_")


def test_api_reports_the_unsupported_constraint(unseen_store, tmp_path):
    settings = make_settings(tmp_path / "api")
    with LiveServer(create_app(settings, store=unseen_store)) as server:
        r = httpx.post(f"{server.url}/v1/ask", json={"question": "Quanti tirocini in Bolivia offre il bando "
                                                                 "Giovani in cooperazione?"}, timeout=60)
        body = r.json()
        assert r.status_code == 200 and body["abstained"] and body["answerer"] == "extractive"
        assert body["unsupported"]["constraint"] == {"kind": "place", "value": "Bolivia"}
        assert set(body["unsupported"]["near"]["values"]) >= {"Burkina Faso", "Marocco", "Perù"}
        r = httpx.post(f"{server.url}/v1/ask", json={"question": "Quanti tirocini sono disponibili nel bando "
                                                                 "Giovani in cooperazione 2025?"}, timeout=60)
        assert not r.json()["abstained"] and "24 tirocini" in r.json()["answer"] and r.json()["unsupported"] is None


def test_unseen_questions_are_well_formed():
    from ingest.cleaning import clean_text
    from ingest.loading import load_file

    questions = [json.loads(line) for line in (UNSEEN / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    from eval.metrics import normalise

    docs = {p.stem: normalise(clean_text(load_file(p).text)) for p in (UNSEEN / "docs").iterdir()}
    assert len(docs) >= 12 and len(questions) >= 120
    assert sum(1 for q in questions if q.get("near_miss")) >= 30
    assert {q["split"] for q in questions} == {"dev", "test"}
    by_doc_split = {}
    for q in questions:
        by_doc_split.setdefault(q["doc"], set()).add(q["split"])
    assert all(len(s) == 1 for s in by_doc_split.values())  # split by document
    ids = {q["id"] for q in questions}
    for q in questions:
        assert not q.get("followup_of") or q["followup_of"] in ids
        for span in q["gold_passages"] + q["key_facts"]:
            assert any(normalise(span) in docs[d] for d in q["gold_doc_ids"]), (q["id"], span)


def test_constraints_are_found_in_questions_typed_in_lower_case():
    """A chat has no capitals: places after a preposition and institutions are found all the same, and the
    capitalised readings stay as they were."""
    def kinds(q):
        return [(c.kind, c.text.lower(), c.bound.text.lower() if c.bound else None) for c in constraints_of(q)]

    assert kinds("chi ha donato i cassonetti al comune di sfax") == [("organisation", "comune di sfax", None)]
    assert kinds("ciao, chi e il capofila del progetto in palestina") == [("place", "palestina", None)]
    assert kinds("quanto costa il progetto della regione umbria x tunisi") == [
        ("organisation", "regione umbria", None), ("place", "tunisi", None)]
    assert kinds("salve, chi e il sindaco di tunisi") == [("role", "sindaco", "tunisi"),  # a gazetteer place
                                                          ("place", "tunisi", None)]
    # a lower-case word after an institution or a role is not a name unless the reading is safe
    assert kinds("quale comune coordina la rete") == []
    assert kinds("chi è il tutor dei tirocinanti in Marocco?") == [("role", "tutor", None), ("place", "marocco", None)]
    assert kinds("Con quale associazione ANCI Piemonte ha firmato?") == [("organisation", "anci piemonte", None)]


def test_lower_case_near_miss_abstains_and_its_right_twin_answers(unseen_store):
    svc = AskService(unseen_store, unseen_store.settings)
    for question, kind in {"quanto costa il progetto del comune di poggibonsi in etiopia": "place",
                           "quanto e costata la maternita costruita a djougou con il comune di alba": "organisation",
                           "ciao, chi ha donato i cassonetti al comune di sfax": "organisation"}.items():
        ans = svc.ask(question)
        assert ans.abstained and ans.unsupported["constraint"]["kind"] == kind, (question, ans.answer)
    right = svc.ask("ciao, quanto costa il progetto del comune di poggibonsi in senegal")
    assert not right.abstained and "182.500 euro" in right.answer


def test_an_institution_typed_one_letter_off_still_matches_but_another_does_not():
    ev = Evidence.of("Il Comune di Poggibonsi finanzia un pozzo a Ndiaganiao.")
    [typed] = constraints_of("quanto spende il comune di poggibons")
    assert typed.kind == "organisation" and ev.has(typed)
    [other] = constraints_of("quanto spende il comune di poggiolino")
    assert not ev.has(other)
    [short] = constraints_of("quanto spende il comune di bre")  # short names match exactly only
    assert not Evidence.of("Il Comune di Bra finanzia una maternità.").has(short)
