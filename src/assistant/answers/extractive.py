"""Answers from the documents: retrieval, evidence sentences, a short Italian answer with numbered citations.

The default answerer is extractive (no language model). A learned selector (`selector.py`, trained on
squad-it-dev) scores the sentences of the retrieved passages by meaning, words, answer type, position and rank;
the answerability check (`answerability.py`) keeps only sentences whose evidence supports every place,
organisation, name, year and role the question names, and otherwise abstains saying what the nearest document
holds instead. Another backend only has to implement `Answerer.compose`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache

from assistant.answers.answerability import constraints_of, same_kind_values
from assistant.answers.candidates import TYPE_WORDS, Candidate, Context, gather_candidates, require_topic
from assistant.answers.followups import topic_of
from assistant.answers.listing import is_list_question, list_items
from assistant.answers.selector import (
    LEXICAL_MODEL_FILE,
    QuestionInfo,
    SelectorModel,
    featurize,
    holds_type,
    label_matches,
    load_model,
    without_dense,
)
from assistant.answers.types import ABSTAIN_TEMPLATE, Draft
from assistant.core.text import is_section_heading, split_sentences
from assistant.search.retrieval import EncodedQuery
from assistant.storage.records import StoredPassage
from assistant.storage.store import Store

_PRONOUN_START = re.compile(r"^(esso|essa|essi|esse|tale|questo|questa|quest[oa]\s+\w+|il\s+(?:progetto|documento|"
                            r"programma)\b|l['’](?:iniziativa|intervento)\b)", re.I)



@lru_cache(maxsize=1)
def default_model() -> SelectorModel:
    return load_model()


@lru_cache(maxsize=1)
def lexical_model() -> SelectorModel:
    return load_model(name=LEXICAL_MODEL_FILE)


# ------------------------------------------------------------------------------------- the answerer


class ExtractiveAnswerer:
    """Selects evidence sentences with the learned selector; abstains when a constraint of the question is not
    supported or the best sentence's probability is below `threshold`."""

    name = "extractive"

    def __init__(self, store: Store, threshold: float = 0.05, max_sentences: int = 3,
                 join_ratio: float = 0.4, typed_ratio: float = 0.5, model: SelectorModel | None = None,
                 sentence_vectors: bool = False, max_words: int = 0) -> None:
        self.store = store
        self.max_words = max_words
        self.sentence_vectors = sentence_vectors
        self.threshold = threshold
        self.typed_ratio = typed_ratio
        self.max_sentences = max_sentences
        self.join_ratio = join_ratio
        self.model = model or default_model()
        self.lexical = lexical_model()

    def candidates(self, question: str, query: EncodedQuery, evidence: list[StoredPassage],
                   context: Context) -> tuple[QuestionInfo, list[Candidate]]:
        """Every sentence of the evidence with its probability of holding the answer, best first."""
        # The full model needs every sentence's vector; until a document has them, all candidates are scored
        # by the lexical model (the two models' features must not mix within one question).
        vectors = self.sentence_vectors and all(p.meta.get("sentence_vectors") for p in evidence)
        q, out = gather_candidates(question, query, evidence, context, vectors)
        idf = idf_function(self.store)
        if not context.followup:
            require_topic(question, out, self.store)
        x = featurize(q, [c.facts for c in out], idf)
        probs = self.model.probabilities(x) if vectors else self.lexical.probabilities(without_dense(x))
        for cand, p in zip(out, probs, strict=True):
            cand.probability = float(p)
        out.sort(key=lambda c: c.probability, reverse=True)
        return q, out

    def compose(self, question: str, query: EncodedQuery, evidence: list[StoredPassage], context: Context,
                on_token: Callable[[str], None] | None = None) -> Draft:
        q, cands = self.candidates(question, query, evidence, context)
        if not cands or (not context.followup and not q.own_stems - TYPE_WORDS):
            return _abstain(question, context, 0.0)  # "Quanto è costato?" names nothing to look for
        supported = [c for c in cands if not c.missing]
        if not supported:
            return _abstain_unsupported(question, context, cands[0])
        if q.english:
            # Asked in another language the selector has only meaning to go on, and a heading ("Bando … 2026")
            # matches any question about its document: answers come from sentences and fields.
            supported = [c for c in supported if not is_section_heading(c.text)] or supported
        if not context.followup and is_list_question(question):
            items = list_items(cands, constraints_of(question))
            if len(items) >= 2 and items[0].probability >= self.threshold:
                return _write_list(items)
        # Asked for an amount, a date or a number: the answer must hold one, in a sentence nearly as likely.
        typed = [c for c in supported if holds_type(q, c.text, c.facts.context_bag)]
        # A field or table row of the best sentence's document whose label the question names ("Data Fine" for
        # "quando è finito") answers it, if it holds what is asked for, even when the selector ranks it lower.
        field = next((c for c in typed if c.passage.doc_id == supported[0].passage.doc_id
                      and label_matches(q, c.text) and c.probability >= self.threshold), None)
        if field is not None:
            holding = {id(c) for c in typed}
            supported = [field] + [c for c in supported if c is not field and id(c) in holding]
        elif not typed or typed[0].probability < self.typed_ratio * supported[0].probability:
            return _abstain(question, context, round(supported[0].probability * self.typed_ratio, 4))
        elif typed[0] is not supported[0]:
            supported = typed  # the most likely sentence lacks the amount/date/number: answer from those holding one
        best = supported[0]
        confidence = round(best.probability, 4)
        if confidence < self.threshold:
            return _abstain(question, context, confidence)
        chosen = [best]
        seen_stems = set(best.facts.bag)
        length = len(best.text.split())
        for cand in supported[1:] if field is None else []:  # the field the question names is the answer
            if len(chosen) >= self.max_sentences or cand.probability < self.join_ratio * best.probability:
                break
            stems_ = cand.facts.bag
            if not stems_ or len(stems_ - seen_stems) / len(stems_) < 0.5:
                continue  # mostly repeats what is already said (passages overlap by a sentence)
            if self.max_words and length + len(cand.text.split()) > self.max_words:
                continue  # a shorter one further down may still fit
            length += len(cand.text.split())
            chosen.append(cand)
            seen_stems |= stems_
        draft = _write(chosen, confidence)
        draft.support = list({(c.passage.doc_id, c.passage.position): c.passage for c in supported}.values())
        return draft


def idf_function(store: Store):
    """BM25-style IDF over the store's live passages."""
    n_docs, df = store.term_stats()

    def idf(term: str) -> float:
        d = df.get(term, 0)
        return math.log(1 + (n_docs - d + 0.5) / (d + 0.5))

    return idf


def _write(chosen: list[Candidate], confidence: float) -> Draft:
    numbers: dict[str, int] = {}
    cited: dict[str, tuple[StoredPassage, list[str]]] = {}
    parts: list[str] = []
    used = {c.text for c in chosen}
    for cand in chosen:
        pid = f"{cand.passage.doc_id}#{cand.passage.position}"
        sentences = cand.passage.meta.get("sentences") or split_sentences(cand.passage.content)
        text = cand.text
        if _PRONOUN_START.match(text) and cand.index > 0:
            # "Esso assomma a 218.000 euro": bring the sentence that says what "esso" is.
            prev = sentences[cand.index - 1]
            limit = 60 if re.match(r"^(esso|essa|essi|esse|tale)\b", text, re.I) else 30
            if prev not in used and len(prev.split()) <= limit:
                text = f"{prev}{'' if prev[-1:] in '.:;!?' else '.'} {text}"
                used.add(prev)
        if text.endswith(":"):
            # "…i seguenti strumenti:" is followed by its list: keep up to five items.
            items = []
            for nxt in sentences[cand.index + 1 : cand.index + 6]:
                if nxt in used or len(nxt.split()) > 25:
                    break
                items.append(_strip_bullet(nxt))
                used.add(nxt)
            if items:
                text = f"{text} {'; '.join(items)}."
        n = numbers.setdefault(pid, len(numbers) + 1)
        cited.setdefault(pid, (cand.passage, []))[1].append(text)
        parts.append(f"{_strip_bullet(text)} [{n}]")
    return Draft(" ".join(parts), list(cited.values()), confidence, False)


def _write_list(items: list[Candidate]) -> Draft:
    """One line per document: its title and the sentence that answers, with its citation."""
    lines = []
    cited = []
    for n, cand in enumerate(items, 1):
        title = cand.passage.meta.get("title") or cand.passage.doc_id
        text = _strip_bullet(cand.text)
        lines.append(f"- «{title}»: {text} [{n}]")
        cited.append((cand.passage, [text]))
    text = f"Ho trovato {len(items)} documenti:\n" + "\n".join(lines)
    return Draft(text, cited, round(items[0].probability, 4), False,
                 support=[c.passage for c in items])


def _abstain(question: str, context: Context, confidence: float) -> Draft:
    text = ABSTAIN_TEMPLATE.format(topic=topic_of(question))
    if context.followup and context.previous_question:
        text = text[:-1] + f", riferito alla domanda precedente («{context.previous_question.strip()}»)."
    return Draft(text, [], confidence, True)


_NEAR_VERB = {"place": "riguarda", "organisation": "riguarda", "year": "riporta gli anni"}


def _abstain_unsupported(question: str, context: Context, nearest: Candidate) -> Draft:
    """Abstain naming what is missing and, where the nearest document holds something of the same kind, that."""
    draft = _abstain(question, context, round(nearest.probability, 4))
    failed = nearest.missing[0]
    value = failed.text if failed.bound is None else f"{failed.text} di {failed.bound.text}"
    meta = nearest.passage.meta
    title = meta.get("title") or nearest.passage.doc_id
    instead = [v for v in same_kind_values(failed, nearest.passage.content, meta)
               if v.lower() != failed.text.lower()]
    text = draft.text[:-1] + f": non trovo «{value}»."
    if instead and failed.kind in _NEAR_VERB:
        text += f" Il documento più vicino, «{title}», {_NEAR_VERB[failed.kind]} {', '.join(instead)}."
    draft.text = text
    draft.unsupported = {"constraint": failed.to_dict() | {"value": value},
                         "near": {"doc_id": nearest.passage.doc_id, "title": title, "values": instead}}
    return draft


def _strip_bullet(text: str) -> str:
    return re.sub(r"^[-•·*]\s+", "", text.strip())
