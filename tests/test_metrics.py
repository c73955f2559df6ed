"""The metric code on hand-made rankings with known values."""

import json
import math

import pytest

from eval.metrics import contains, fact_coverage, mrr_at_k, ndcg_at_k, percentile, recall_at_k, spans_in


def test_recall_at_k():
    ranked = ["a", "b", "c", "d"]
    assert recall_at_k(ranked, {"c"}, 1) == 0.0
    assert recall_at_k(ranked, {"c"}, 3) == 1.0
    assert recall_at_k(ranked, {"a", "d"}, 2) == 0.5
    assert recall_at_k(ranked, {"a", "z"}, 10) == 0.5
    assert recall_at_k(ranked, set(), 5) == 0.0


def test_mrr_at_k():
    assert mrr_at_k(["a", "b", "c"], {"a"}) == 1.0
    assert mrr_at_k(["a", "b", "c"], {"c", "b"}) == 0.5
    assert mrr_at_k(["x"] * 10 + ["a"], {"a"}, 10) == 0.0
    assert mrr_at_k(["x", "x", "x", "a"], {"a"}, 10) == 0.25


def test_ndcg_at_k():
    assert ndcg_at_k(["a", "b"], {"a"}) == 1.0
    assert ndcg_at_k(["b", "a"], {"a"}) == pytest.approx(1 / math.log2(3))
    # two relevant at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2(3))
    assert ndcg_at_k(["a", "x", "b"], {"a", "b"}) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "y"], {"a"}) == 0.0
    assert ndcg_at_k(["a", "a", "b"], {"a", "b"}, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0


def test_span_and_fact_matching_normalises_quotes_case_and_space():
    passage = "L’elenco   avrà validità di 3 anni. Il programma “Le Ali della Colomba”"
    assert contains(passage, "l'elenco avrà validità di 3 ANNI")
    assert spans_in(passage, ["validità di 3 anni", "assente", '"Le Ali della Colomba"']) == {0, 2}
    assert fact_coverage("Costa 218.000 euro [1] ed è della ONEP [2]", ["218.000 euro", "ONEP", "Scandicci"]) == \
        pytest.approx(2 / 3)
    assert fact_coverage("qualcosa", []) == 0.0


def test_chat_form_is_seeded_lowercase_unaccented_and_keeps_the_gold():
    from eval.chat_form import chat_questions

    qs = [{"id": "a", "question": "Qual è il budget per il progetto del Comune di Poggibonsi in Senegal?",
           "key_facts": ["182.500 euro"]}] * 20
    once, again = chat_questions(qs), chat_questions(qs)
    assert once == again  # seeded
    text = once[0]["question"]
    assert text.endswith("qual e il budget x il progetto del comune di poggibonsi in senegal")
    assert all(q["key_facts"] == ["182.500 euro"] and q["id"] == "a" for q in once)
    assert any(q["question"].startswith(("ciao", "buongiorno", "salve")) for q in once)
    def core(text: str) -> str:
        return text.split(", ", 1)[-1].removeprefix("buongiorno ")

    plain = core(text)
    assert all(len(core(t["question"])) == len(plain) - 1 for t in chat_questions(qs, typos=True))


def test_answer_dumps_are_compared_answer_by_answer(tmp_path):
    from eval.answer_dump import compare

    def write(name, rows):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    same = {"id": "a", "answer": "Roma", "abstained": False, "has": True, "words": 1}
    before = write("before.jsonl", [same, {"id": "b", "answer": "x", "abstained": False, "has": False, "words": 1}])
    after = write("after.jsonl", [same, {"id": "b", "answer": "", "abstained": True, "has": False, "words": 0}])
    result = compare(before, after)
    assert result["compared"] == 2 and result["identical"] == 1 and result["changed"] == ["b"]
    assert result["before"]["abstained"] == 0.0 and result["after"]["abstained"] == 0.5
