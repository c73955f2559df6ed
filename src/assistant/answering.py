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
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from .answerability import constraints_of, same_kind_values
from .candidates import TYPE_WORDS, Candidate, Context, gather_candidates, require_topic
from .config import Settings
from .conversation import ConversationStore, Turn
from .listing import is_list_question, list_items
from .respell import respell
from .retrieval import EncodedQuery, Searcher
from .selector import (LEXICAL_MODEL_FILE, QuestionInfo, SelectorModel, featurize, holds_type, label_matches,
                       load_model, name_stems, without_dense)
from .store import Filters, Store, StoredPassage
from .text import content_stems, is_section_heading, split_sentences, words

__all__ = ["ABSTAIN_TEMPLATE", "Answer", "Answerer", "AskService", "Candidate", "Citation", "Context", "Draft",
           "ExtractiveAnswerer", "build_service", "default_answerer", "gather_candidates", "idf_function"]

ABSTAIN_TEMPLATE = "Nei documenti disponibili non ho trovato informazioni su «{topic}»."

# ---------------------------------------------------------------------------------------------- data


@dataclass
class Citation:
    n: int
    doc_id: str
    title: str
    organisation: str
    passage_id: str
    heading: str
    quote: str
    passage: str


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation]
    abstained: bool
    conversation_id: str
    answer_id: str
    confidence: float
    resolved_query: str
    followup: bool = False
    answerer: str = "extractive"
    unsupported: dict[str, Any] | None = None  # the question's constraint no evidence supports, and the near match
    fallback_reason: str | None = None  # why a configured language model's answer was not used
    verification: dict[str, Any] | None = None  # the model's sentences: how many, which were dropped and why
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Draft:
    text: str
    cited: list[tuple[StoredPassage, list[str]]]
    confidence: float
    abstained: bool
    unsupported: dict[str, Any] | None = None
    answerer: str = "extractive"
    fallback: str | None = None
    verification: dict[str, Any] | None = None
    support: list[StoredPassage] = field(default_factory=list)  # passages of answerable sentences, best first


class Answerer(Protocol):
    name: str

    def compose(self, question: str, query: EncodedQuery, evidence: list[StoredPassage], context: Context,
                on_token: Callable[[str], None] | None = None) -> Draft:
        """`on_token`: called with each piece of text as it is written (a model's tokens, unverified)."""
        ...


# --------------------------------------------------------------------------------- question analysis

_FOLLOWUP_START = re.compile(r"^\s*(e|ed|ma|and|anche|invece|inoltre|poi|allora|what\s+about|e\s+per)\b", re.I)
_ANAPHORA = {"esso", "essa", "essi", "esse", "lo", "la", "li", "le", "ne", "questo", "questa", "quello", "quella",
             "tale", "suo", "sua", "suoi", "loro", "stesso", "stessa", "it", "its", "this", "that", "they", "them"}
# A sentence that opens with a pronoun or "Il progetto…" needs the one before it to say what it is about.
_PRONOUN_START = re.compile(r"^(esso|essa|essi|esse|tale|questo|questa|quest[oa]\s+\w+|il\s+(?:progetto|documento|"
                            r"programma)\b|l['’](?:iniziativa|intervento)\b)", re.I)


def is_followup(question: str, has_history: bool) -> bool:
    """A question that leans on the conversation: opens with "e/ma/anche…", has a pronoun, or names nothing
    (no proper noun, acronym or number) and so cannot stand alone ("Quanti enti locali coinvolge?")."""
    if not has_history:
        return False
    if _FOLLOWUP_START.match(question):
        return True
    tokens = words(question)
    if {m.group(0).lower() for m in tokens} & _ANAPHORA:
        return True
    substantive = [s for s in content_stems(question) if s not in TYPE_WORDS]
    if len(substantive) <= 1:
        return True
    return not name_stems(question)


def topic_of(question: str) -> str:
    q = " ".join(question.strip().split()).rstrip("?!. ")
    q = re.sub(r"^(e|ed|ma|and)\s+", "", q, flags=re.I)
    return q[:1].lower() + q[1:] if q else q


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


# ----------------------------------------------------------------------------------------- service


class AskService:
    """Question → follow-up resolution → retrieval → answerer → recorded turn."""

    def __init__(self, store: Store, settings: Settings, answerer: Answerer | None = None,
                 conversations: ConversationStore | None = None, searcher: Searcher | None = None) -> None:
        self.store = store
        self.settings = settings
        self.searcher = searcher or Searcher(store)
        self.answerer = answerer or default_answerer(store, settings)
        self.conversations = conversations or ConversationStore(
            settings.conversation_max_turns, settings.conversation_max_chars,
            settings.conversation_ttl_seconds, settings.conversation_max_count,
        )

    def ask(self, question: str, conversation_id: str | None = None, filters: Filters | None = None,
            owner: str = "", on_token: Callable[[str], None] | None = None) -> Answer:
        """`owner`: who asks (an API key's digest); a conversation continues only for its owner. `on_token`: gets
        a language model's text as it is written (before it is verified)."""
        t0 = time.perf_counter()
        conv = self.conversations.get(conversation_id, owner)
        history = self.conversations.history(conv.id)
        followup = is_followup(question, bool(history))
        context = Context(followup=followup)
        query_text = question
        if followup:
            last = history[-1]
            chain = []
            for turn in reversed(history):  # back to the question the follow-ups started from
                chain.append(turn.question)
                if turn.resolved_query == turn.question:
                    break
            context = Context(True, last.resolved_query, last.cited_doc_ids, last.cited_passages, last.question,
                              chain)
            query_text = f"{question} {last.resolved_query}"
        encoded = self.searcher.encode(query_text)
        t1 = time.perf_counter()
        # A list question ("quali progetti…") gathers from several documents: it reads more passages.
        limit = self.settings.answer_passages * (3 if not followup and is_list_question(question) else 1)
        evidence = self.searcher.passages(encoded, limit=limit, filters=filters,
                                          sentence_vectors=True)
        # Typed in a hurry ("tiroini", "maternita", "x"): read with the passages' own words, and find again.
        asked = respell(question, (p.content for p in evidence))
        if asked != question:
            query_text = query_text.replace(question, asked, 1)
            encoded = self.searcher.encode(query_text)
            evidence = self.searcher.passages(encoded, limit=limit, filters=filters, sentence_vectors=True)
        t2 = time.perf_counter()
        draft = self.answerer.compose(asked, encoded, evidence, context, on_token=on_token)
        t3 = time.perf_counter()
        citations = [
            Citation(n=i, doc_id=p.doc_id, title=p.meta.get("title", ""), organisation=p.meta.get("organisation", ""),
                     passage_id=f"{p.doc_id}#{p.position}", heading=p.meta.get("heading", ""),
                     quote=" ".join(quotes), passage=p.content)
            for i, (p, quotes) in enumerate(draft.cited, 1)
        ]
        answer_id = uuid.uuid4().hex
        self.conversations.append(conv.id, Turn(asked, query_text, draft.text, [c.doc_id for c in citations],
                                                [c.passage_id for c in citations], answer_id))
        return Answer(
            question=question, answer=draft.text, citations=citations, abstained=draft.abstained,
            conversation_id=conv.id, answer_id=answer_id, confidence=draft.confidence, resolved_query=query_text,
            followup=followup, answerer=draft.answerer, unsupported=draft.unsupported,
            fallback_reason=draft.fallback, verification=draft.verification,
            timings_ms={"embed": round((t1 - t0) * 1000, 1), "retrieve": round((t2 - t1) * 1000, 1),
                        "compose": round((t3 - t2) * 1000, 1)},
        )


def default_answerer(store: Store, settings: Settings, threshold: float | None = None) -> Answerer:
    """The extractive answerer, wrapped by the language-model one when `llm_url` is set."""
    extractive = ExtractiveAnswerer(store, settings.abstain_threshold if threshold is None else threshold,
                                    settings.max_answer_sentences, settings.answer_join_ratio,
                                    settings.answer_typed_ratio, sentence_vectors=settings.sentence_vectors != "off",
                                    max_words=settings.answer_max_words)
    if not settings.llm_url:
        return extractive
    from .generation import build_llm_answerer

    return build_llm_answerer(extractive, settings)


def build_service(store: Store, settings: Settings) -> AskService:
    return AskService(store, settings)
