"""CI quality gate: the evaluation over corpus/ must stay above the thresholds in eval/thresholds.json."""

import json

from eval.gate import check_gate, gate_values
from eval.runner import run_corpus
from eval.stores import load_jsonl

from .conftest import CORPUS, ROOT, make_settings


def test_questions_file_is_well_formed():
    questions = load_jsonl(ROOT / "eval" / "questions.jsonl")
    ids = {q["id"] for q in questions}
    assert len(questions) >= 80 and len(ids) == len(questions)
    unanswerable = [q for q in questions if not q["answerable"]]
    assert len(unanswerable) / len(questions) >= 0.15
    assert sum(1 for q in questions if q.get("followup_of")) >= 10
    assert sum(1 for q in questions if q["lang"] == "en") >= 5
    texts = {p.stem: " ".join(p.read_text(encoding="utf-8").split()) for p in CORPUS.glob("*.txt")}
    for q in questions:
        assert not q.get("followup_of") or q["followup_of"] in ids
        for span in q["gold_passages"]:  # every gold passage is a quoted span of a gold document
            assert any(" ".join(span.split()) in texts[d] for d in q["gold_doc_ids"]), (q["id"], span)


def test_eval_over_corpus_meets_thresholds(tmp_path):
    settings = make_settings(tmp_path / "data")
    results = run_corpus(CORPUS, ROOT / "eval" / "questions.jsonl", settings, tmp_path / "reports", "pytest gate")
    thresholds = json.loads((ROOT / "eval" / "thresholds.json").read_text(encoding="utf-8"))
    assert set(thresholds) == set(gate_values(results))
    assert check_gate(results, thresholds) == [], gate_values(results)
    report = (tmp_path / "reports" / "corpus.md").read_text(encoding="utf-8")
    assert "| hybrid |" in report and (tmp_path / "reports" / "corpus-recall.png").stat().st_size > 1000
    data = json.loads((tmp_path / "reports" / "corpus.json").read_text(encoding="utf-8"))
    assert set(data["retrieval"]["configurations"]) == {"bm25-only", "dense-only", "hybrid"}


def test_eval_over_unseen_documents_meets_thresholds_on_its_test_split(tmp_path):
    """Documents nobody tuned for: thresholds are chosen on the dev split; the gate reads the test split."""
    unseen = ROOT / "eval" / "unseen"
    settings = make_settings(tmp_path / "data")
    results = run_corpus(unseen / "docs", unseen / "questions.jsonl", settings, tmp_path / "reports", "pytest gate",
                         name="unseen", choose_on="dev")
    thresholds = json.loads((unseen / "thresholds.json").read_text(encoding="utf-8"))
    assert set(thresholds) == set(gate_values(results))
    assert check_gate(results, thresholds) == [], gate_values(results)
    assert results["answers"]["chosen_on"] == "dev"
    report = (tmp_path / "reports" / "unseen.md").read_text(encoding="utf-8")
    assert "| metric | dev | test |" in report


def test_unseen_questions_typed_as_in_a_chat_meet_thresholds_on_the_test_split(tmp_path):
    """The same unseen questions lowercased, without accents, with 'x' for 'per', greetings and one dropped
    letter (eval/chat_form.py, seeded): answers must hold as officers really type."""
    unseen = ROOT / "eval" / "unseen"
    settings = make_settings(tmp_path / "data")
    results = run_corpus(unseen / "docs", unseen / "questions.jsonl", settings, tmp_path / "reports", "pytest gate",
                         name="unseen", choose_on="dev", chat="typos")
    thresholds = json.loads((unseen / "thresholds-chat.json").read_text(encoding="utf-8"))
    assert check_gate(results, thresholds) == [], gate_values(results)
    assert (tmp_path / "reports" / "unseen-chat-typos.md").exists()
