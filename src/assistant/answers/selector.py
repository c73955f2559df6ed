"""Learned answer-sentence selection: features of (question, candidate sentence) and a logistic model over them.

The model is trained on squad-it-dev (`assistant train-selector`): for each question the product's own
retrieval gives the candidate sentences, and a sentence is positive when it holds a gold answer span in a
gold passage. Features are generic (meaning, word overlap, answer type, position, rank), so the weights carry
to documents nobody tuned for. Hand-written because the model is a few numbers: no library model fits the
"few KB, no training framework at run time" budget.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.text import content_stems, looks_english, looks_french, stem, words

MODEL_FILE = "selector.json"
# The same features without the sentence vectors' ones (zeroed): for evidence whose sentences have no vectors yet.
LEXICAL_MODEL_FILE = "selector_lexical.json"
DENSE_FEATURES = ("dense", "dense_gap", "english_dense", "dense_rank")
# How much a follow-up's inherited words count against its own ("E quale comune lo sostiene?"): the earlier
# question picks the documents (query vector, constraints, anchoring), the follow-up's own words the sentence.
# 0.1 chosen on the follow-ups of eval/questions.jsonl and the unseen dev split (0.5 lost "E chi ne è il
# capofila?" to the project's title line; 0.25 kept it only by joining a second sentence; 0.1 and 0 both right).
CONTEXT_WEIGHT = 0.1

_OPENING = r"^\W*(?:[\w'’]+,?\s+){0,2}?"
# Question type → what an answer of that type looks like in a sentence.
QUESTION_TYPES: dict[str, re.Pattern[str]] = {
    "money": re.compile(r"\b(quant[oi]\s+(?:è\s+)?(?:cost\w*|vale|ha\s+(?:versato|ricevuto|stanziato|impegnato|"
                        r"contribuito)|contribuisc\w*|riceve|versa|viene\s+a\s+costare)|cost[oi]|budget|importo|"
                        r"dotazione|compenso|rimborso|contributo|stanziament\w*|how\s+much|cost|costs|funding)\b", re.I),
    # a date or a number is asked for when the question opens with its cue ("Entro quando…", "Circa quanti…"),
    # not when "quando" joins two clauses ("Dove studiava Tesla quando…")
    "date": re.compile(_OPENING + r"(quando|in\s+che\s+anno|in\s+quale\s+anno|che\s+data|quale\s+data|when|"
                       r"what\s+year|which\s+year)\b|\b(scadenza|data\s+di\s+(?:inizio|fine|scadenza)|deadline|due\s+date|"
                       r"start\s+date|end\s+date|date\s+limite)\b", re.I),
    "count": re.compile(_OPENING + r"(quant[ie]|how\s+many)\b|\bnumero\s+di\b", re.I),
    "who": re.compile(r"\b(chi|quale\s+(?:ente|comune|organizzazione|soggetto|associazione|ong|fondazione|"
                      r"agenzia|città|persona|partner)|who|whom)\b", re.I),
    "where": re.compile(r"\b(dove|in\s+quale\s+(?:paese|città|regione|luogo)|where)\b", re.I),
}
_EVIDENCE: dict[str, re.Pattern[str]] = {
    "money": re.compile(r"(\d[\d.,]*\s*(?:euro|eur\b|€|dollari|\$|mila|milioni|mln|miliardi)|[€$]\s*\d)", re.I),
    # a date, a month, a century, or a year standing alone ("1.300" and "2.500 euro" are not years)
    "date": re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|(?<![\d.,])\b(?:1\d{3}|20\d\d)\b(?![.,]\d)|"
                       r"\b(?:gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|"
                       r"dicembre|secolo|secoli|anni|oggi|ieri|domani)\b", re.I),
    "count": re.compile(r"\b(\d+(?:[.,]\d+)*|due|tre|quattro|cinque|sei|sette|otto|nove|dieci|undici|dodici|"
                        r"tredici|quattordici|quindici|sedici|diciassette|diciotto|diciannove|venti\w*|trent\w*|"
                        r"quarant\w*|cinquant\w*|sessant\w*|settant\w*|ottant\w*|novant\w*|cento|mille|"
                        r"milion[ei]|miliard[oi]|decine|centinaia|migliaia)\b", re.I),
}
_LIST_HEAD = re.compile(r"^(?:e\s+)?(?:quali|which|what)\s+([^\W\d_]{3,})", re.I)
# A "Label: value" line of a project sheet ("Costo totale: 182.500 euro").
LABEL = re.compile(r"^([A-ZÀ-Ý][^:]{2,40}):\s+\S")
# A table row as ingest writes it ("Formazione dei tecnici — Regione Lombardia: 12.000; Totale: 18.000.").
ROW = re.compile(r"^([^—:]{2,60}) — [^:]{1,60}:\s")
# Words of a label that name the kind of value, not which one ("Data Fine", "Numero di partecipanti").
_GENERIC_LABEL = {stem(w) for w in ("data", "numero", "importo", "valore", "periodo", "della", "delle", "degli")}


def field_label(text: str) -> str | None:
    """The label of a field line or the row label of a table row, else None."""
    m = ROW.match(text) or LABEL.match(text)
    return m.group(1) if m else None


def label_matches(q: QuestionInfo, text: str) -> bool:
    """A field or table row whose label the question names ("Data Fine" for "quando è finito", "Totale" for
    "quanto costa in totale")."""
    label = field_label(text)
    if not label:
        return False
    label_stems = {stem(m.group(0).lower()) for m in words(label) if len(m.group(0)) > 2} - _GENERIC_LABEL
    terms = set(q.own_stems)  # not a follow-up's earlier question: "E quando è finito?" after "…iniziato?"
    return bool(label_stems) and all(soft_in(t, terms) for t in label_stems)

FEATURES = [
    "dense", "dense_gap", "lex", "lex_gap", "lex_ctx", "novel", "new_names", "length", "position", "first",
    "rank", "label_match", "english_dense", "list_enum", "constraints", "dense_rank", "lex_rank", "bigrams",
    "rarest_term", "passage_score", "next_lex", "predicate_lex", "predicate_gap", "names_ctx", "local_lex",
    "local_gap", "local_ctx", "focus", "focus_first", "specific_lex", "specific_gap",
    "type_money", "type_date", "type_count", "type_who", "type_where", "typed_question_no_match",
]


def question_type(question: str) -> str | None:
    for name, cue in QUESTION_TYPES.items():
        if cue.search(question):
            return name
    return None


@dataclass
class QuestionInfo:
    text: str
    qtype: str | None
    english: bool
    terms: dict[str, float]  # stem → weight (1 own, 0.5 from the conversation)
    own_stems: set[str]
    own_names: set[str]
    list_head: str | None
    stem_sequence: list[str]

    def without(self, stems: set[str]) -> QuestionInfo:
        return replace(self, terms={t: w for t, w in self.terms.items() if t not in stems})

    def predicate(self) -> QuestionInfo:
        """The question without its names: what is asked about them."""
        return self.without(self._name_stems())

    def names_only(self) -> QuestionInfo:
        return self.without(set(self.terms) - self._name_stems())

    def _name_stems(self) -> set[str]:
        return set(name_stems(self.text))

    @classmethod
    def of(cls, question: str, context_text: str = "") -> QuestionInfo:
        english = looks_english(question) or looks_french(question)  # read by meaning: its words are not Italian
        own = content_stems(question)
        names = name_stems(question)
        terms = {t: 1.0 for t in (names if english else own)}
        for t in content_stems(context_text):
            terms.setdefault(t, CONTEXT_WEIGHT)
        head = _LIST_HEAD.match(question.strip())
        return cls(question, question_type(question), english, terms, set(own),
                   {m.group(0).lower() for m in words(question)}, stem(head.group(1)) if head else None, own)


def name_stems(question: str) -> list[str]:
    """Stems of the names in a question: capitalised words after the first, acronyms, numbers."""
    out = []
    for i, m in enumerate(words(question)):
        w = m.group(0)
        if (i > 0 and w[0].isupper()) or w[0].isdigit() or (len(w) > 1 and w.isupper()):
            out.append(stem(w))
    return out


def soft_in(term: str, bag: set[str]) -> bool:
    """Exact stem, or one stem a prefix of the other differing by at most 3 letters (capofila/capofilato)."""
    if term in bag:
        return True
    if len(term) < 6:
        return False
    return any(len(b) >= 6 and abs(len(b) - len(term)) <= 3 and (b.startswith(term) or term.startswith(b))
               for b in bag)


@dataclass
class SentenceFacts:
    """What the features need of one candidate sentence."""

    text: str
    bag: set[str]
    context_bag: set[str]
    dense: float
    index: int
    n_sentences: int
    rank: int
    constraints: float = 1.0  # share of the question's constraints its passage supports
    passage_score: float = 0.0  # the passage's retrieval score relative to the best passage's
    next_bag: set[str] = field(default_factory=set)  # stems of the following sentence
    title_bag: set[str] = field(default_factory=set)  # stems of the document's title and the passage's heading
    extra: dict[str, float] = field(default_factory=dict)


def coverage(q: QuestionInfo, bag: set[str], idf) -> float:
    if not q.terms:
        return 0.0
    total = sum(idf(t) * w for t, w in q.terms.items()) or 1.0
    return sum(idf(t) * w for t, w in q.terms.items() if soft_in(t, bag)) / total


def enumerates(sentence: str, head: str) -> bool:
    """The sentence lists several of the things asked for: the head noun twice, or it and two names."""
    stems_ = [stem(m.group(0)) for m in words(sentence)]
    count = stems_.count(head)
    names = sum(1 for m in words(sentence)[1:] if m.group(0)[:1].isupper())
    commas = sentence.count(",") + sentence.count(";")
    return count >= 2 or (count >= 1 and names >= 3) or (names >= 3 and commas >= 2)


def featurize(q: QuestionInfo, cands: list[SentenceFacts], idf) -> np.ndarray:
    """One row of FEATURES per candidate; gaps are relative to the best candidate of the same question."""
    if not cands:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    lex = [coverage(q, c.bag, idf) for c in cands]
    lex_ctx = [coverage(q, c.context_bag, idf) for c in cands]
    max_dense = max(c.dense for c in cands)
    max_lex = max(lex)
    dense_rank = _ranks([c.dense for c in cands])
    lex_rank = _ranks(lex)
    rarest = max(q.terms, key=idf) if q.terms else None
    # The names of a question pick the document; the rest of it (its predicate) picks the sentence.
    pred = q.predicate()
    names = q.names_only()
    pred_lex = [coverage(pred, c.bag, idf) for c in cands]
    max_pred = max(pred_lex)
    # Words of the question that most candidates share (the topic: names, "bando", "progetto") say little
    # about which sentence answers; weigh each by how rare it is among these candidates.
    local_df = {t: sum(1 for c in cands if soft_in(t, c.bag)) for t in q.terms}
    n_c = len(cands)

    def local_idf(t: str) -> float:
        return math.log((n_c + 1) / (local_df.get(t, 0) + 0.5)) * idf(t)

    # The words right after the question word say what is asked ("Quando è stato *inaugurato* il centro…").
    focus = q.stem_sequence[:2]
    local = [coverage(q, c.bag, local_idf) for c in cands]
    # What the title already says (the project, the call) is the document's topic; the rest is what to find.
    specific = [coverage(q.without({t for t in q.terms if soft_in(t, c.title_bag)}), c.bag, idf) for c in cands]
    max_specific = max(specific)
    max_local = max(local)
    rows = []
    for k, (c, lx, lc) in enumerate(zip(cands, lex, lex_ctx, strict=True)):
        toks = words(c.text)
        new_names = sum(1 for i, m in enumerate(toks) if i > 0 and m.group(0)[:1].isupper()
                        and m.group(0).lower() not in q.own_names)
        novel = len(c.bag - q.own_stems) / len(c.bag) if c.bag else 0.0
        typed = {t: 0.0 for t in ("money", "date", "count", "who", "where")}
        no_match = 0.0
        if q.qtype:
            if q.qtype in _EVIDENCE:
                hit = holds_type(q, c.text, c.context_bag)
            else:  # who / where: a name the question does not already hold
                hit = new_names > 0
            typed[q.qtype] = float(hit)
            no_match = float(not hit)
        label_match = float(label_matches(q, c.text))
        rows.append([
            c.dense, c.dense - max_dense, lx, lx - max_lex, lc, novel, min(new_names, 4) / 4,
            math.log1p(len(toks)) / 4, c.index / max(c.n_sentences - 1, 1), float(c.index == 0),
            1.0 / (1 + c.rank), label_match, c.dense if q.english else 0.0,
            float(bool(q.list_head) and enumerates(c.text, q.list_head)), c.constraints,
            1.0 / (1 + dense_rank[k]), 1.0 / (1 + lex_rank[k]), _bigram_share(q, c.text),
            float(rarest is not None and soft_in(rarest, c.bag)), c.passage_score, coverage(q, c.next_bag, idf),
            pred_lex[k], pred_lex[k] - max_pred, coverage(names, c.context_bag, idf),
            local[k], local[k] - max_local, coverage(q, c.context_bag, local_idf),
            sum(soft_in(t, c.bag) for t in focus) / len(focus) if focus else 0.0,
            float(bool(focus) and soft_in(focus[0], c.bag)), specific[k], specific[k] - max_specific,
            typed["money"], typed["date"], typed["count"], typed["who"], typed["where"], no_match,
        ])
    return np.asarray(rows, dtype=np.float32)


CURRENCY_STEMS = {stem("euro"), stem("eur"), stem("€")}
_FORMATTED_AMOUNT = re.compile(r"\b\d{1,3}(?:\.\d{3})+(?:,\d+)?\b")
_COUNTED = re.compile(r"\b(?:quant[ie]|how\s+many)\s+([^\W\d_]{3,})", re.I)
_AMOUNT_AFTER = re.compile(r"^\s*(?:euro|eur\b|€|dollari|\$|%|per\s*cento)", re.I)


_VERB_END = re.compile(r"(?:ono|ano|ato|ata|ati|ate|ito|ita|iti|ite|uto|uta|are|ere|ire)$", re.I)


def holds_type(q: QuestionInfo, sentence: str, context: set[str] | None = None) -> bool:
    """The sentence holds what an amount, date or number question asks for: an amount; a date; a number
    that is not an amount, with the thing counted in the sentence or its `context` stems ("Quanti abitanti…" →
    "4.200 abitanti"). A number the question itself holds does not count. Other questions are not checked."""
    context = context or set()
    if q.qtype not in _EVIDENCE:
        return True
    text = _without_question_numbers(sentence, q)
    if q.qtype == "money" and CURRENCY_STEMS & context and _FORMATTED_AMOUNT.search(text):
        return True  # a table under "Piano finanziario (euro)": the cells carry no currency of their own
    if q.qtype != "count":
        return bool(_EVIDENCE[q.qtype].search(text))
    if not any(not _AMOUNT_AFTER.match(text[m.end():]) for m in _EVIDENCE["count"].finditer(text)):
        return False
    counted = _COUNTED.search(q.text)
    if counted is None or q.english or _VERB_END.search(counted.group(1)):
        return True  # "Quanti uccidono…" counts what a verb does: no noun to look for
    return soft_in(stem(counted.group(1)), set(content_stems(sentence)) | context)


def _ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for r, i in enumerate(order):
        ranks[i] = r
    return ranks


def _bigram_share(q: QuestionInfo, sentence: str) -> float:
    """Share of the question's consecutive content-word pairs that the sentence also has, in order."""
    qs = q.stem_sequence
    pairs = set(zip(qs, qs[1:]))
    if not pairs:
        return 0.0
    ss = content_stems(sentence)
    return len(pairs & set(zip(ss, ss[1:]))) / len(pairs)


def _without_question_numbers(text: str, q: QuestionInfo) -> str:
    """A number the question already holds ("il bando 2024") is not the answer."""
    for name in q.own_names:
        if name[:1].isdigit():
            text = re.sub(rf"(?<![\d.,]){re.escape(name)}(?![\d.,])", " ", text)
    return text


# ------------------------------------------------------------------------------------------------ model


@dataclass
class SelectorModel:
    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    meta: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"features": self.features, "mean": self.mean.round(6).tolist(), "scale": self.scale.round(6).tolist(),
                "weights": self.weights.round(6).tolist(), "bias": round(float(self.bias), 6), "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SelectorModel:
        return cls(data["features"], np.asarray(data["mean"], dtype=np.float32),
                   np.asarray(data["scale"], dtype=np.float32), np.asarray(data["weights"], dtype=np.float32),
                   float(data["bias"]), data.get("meta", {}))


def without_dense(x: np.ndarray) -> np.ndarray:
    """Feature rows as they are for sentences without vectors: the lexical model sees only these."""
    x = x.copy()
    x[:, [FEATURES.index(f) for f in DENSE_FEATURES]] = 0.0
    return x


def load_model(path: Path | None = None, name: str = MODEL_FILE) -> SelectorModel:
    raw = path.read_text(encoding="utf-8") if path else \
        (resources.files("assistant") / "data" / name).read_text(encoding="utf-8")
    model = SelectorModel.from_json(json.loads(raw))
    if model.features != FEATURES:
        raise ValueError("the selector model was trained on other features: run `assistant train-selector`")
    return model


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50,
                 sample_weight: np.ndarray | None = None) -> SelectorModel:
    """L2-regularised, weighted logistic regression by Newton's method (deterministic, a few features)."""
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    xb = np.hstack([z, np.ones((len(z), 1))]).astype(np.float64)
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (sw * (p - y)) + reg * w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return SelectorModel(list(FEATURES), mean.astype(np.float32), scale.astype(np.float32),
                         w[:-1].astype(np.float32), float(w[-1]))
