"""Candidate sentences for an answer: every sentence of the retrieved passages with the facts the selector
needs, the item it belongs to (its section, with the document's title and metadata) and the constraints of the
question it does not support, the question's topic word among them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from assistant.answers.answerability import Constraint, Evidence, constraints_of, missing, passage_evidence
from assistant.answers.selector import CURRENCY_STEMS, QuestionInfo, SentenceFacts, field_label
from assistant.answers.vocabulary import VERB_FORM, common_words, norm
from assistant.core.text import content_stems, section_heads, split_sentences, stem, strip_accents, words
from assistant.models.e5 import unpack_vectors
from assistant.search.retrieval import EncodedQuery
from assistant.storage.records import StoredPassage
from assistant.storage.store import Store

TYPE_WORDS = {w for w in content_stems("costo costa costato costare spesa budget importo finanziamento valore data "
                                       "anno periodo durata numero inizia iniziato finisce terminato guida guidato "
                                       "cost funding year date lead leads")}


@dataclass
class Candidate:
    passage: StoredPassage
    facts: SentenceFacts  # the sentence, its position and its passage's rank
    missing: list[Constraint] = field(default_factory=list)
    probability: float = 0.0
    item: Evidence | None = None  # the section the sentence belongs to, with the document's title and metadata
    whole: Evidence | None = None  # its passage (and the one before), with the same
    sections: int = 1  # how many headed sections its passage has

    @property
    def text(self) -> str:
        return self.facts.text

    @property
    def index(self) -> int:
        return self.facts.index


@dataclass
class Context:
    """What the answerer knows of the conversation."""

    followup: bool = False
    context_text: str = ""
    previous_doc_ids: list[str] = field(default_factory=list)
    previous_passages: list[str] = field(default_factory=list)
    previous_question: str = ""
    earlier_questions: list[str] = field(default_factory=list)  # the questions this one follows, newest first


TOPIC_MAX_SHARE = 0.2  # a topic word is in at most this share of passages (0.05 and 0.2 tried on the dev split)


def topic_word(question: str, store: Store, constraints: list[Constraint]) -> tuple[str, str] | None:
    """(word, stem) of the question's rarest word that the documents hold and that is not one of its
    constraints, a frequent word of the language or a verb form; None when there is no such word."""
    n_docs, df = store.term_stats()
    if not n_docs:
        return None
    named = {t for c in constraints for seq in c.sequences for t in seq}
    common = common_words()  # "tempo", "posso", "progetto": how a question asks, not what about
    best: tuple[int, str, str] | None = None
    for m in words(question):
        word = m.group(0)
        lower = word.lower()
        if norm(word) in named or len(word) < 5 or VERB_FORM.search(lower) or strip_accents(lower) in common:
            continue
        for t in content_stems(word):
            if t in TYPE_WORDS or not df.get(t):
                continue
            if best is None or df[t] < best[0]:
                best = (df[t], word, t)
    if best is None or best[0] > TOPIC_MAX_SHARE * n_docs:
        return None
    return best[1], best[2]


def require_topic(question: str, cands: list[Candidate], store: Store) -> None:
    """The question's topic word ("bando di cooperazione **sanitaria**", "il **gemellaggio**") must be where an
    answer comes from (its item, in a passage of several): a passage about the right institution but another
    subject does not answer. A word no document holds is left to the selector (a synonym, a typo). Only asked
    of a question that names an institution: the near miss it catches is "the right Comune, another subject";
    elsewhere a question often says its subject in other words than the passage (squad-it-dev: 2 points of
    answers lost when every question is checked)."""
    constraints = constraints_of(question)
    if not any(c.kind == "organisation" for c in constraints):
        return
    topic = topic_word(question, store, constraints)
    if topic is None:
        return
    word = topic[0]
    token = norm(word)
    term = stem(token)  # stemmed as the evidence is: without accents ("bafatá" and "Bafatá" alike)
    for cand in cands:
        if cand.item is None or cand.missing:
            continue
        # in a passage of several items (a newsletter's news) the item must hold it; else the passage
        where = cand.item if cand.sections > 1 else cand.whole
        if where is not None and token not in where.token_set and not _has_prefix(term, where.stems):
            cand.missing.append(Constraint("topic", word, [(token,)]))


def _has_prefix(term: str, stems: set[str]) -> bool:
    """`term` or a longer form of it ("deliber" in "deliberazion"), or a form it extends by up to 3 letters."""
    return term in stems or any(s.startswith(term) or (len(s) >= 5 and term.startswith(s) and len(term) - len(s) <= 3)
                                for s in stems)


def gather_candidates(question: str, query: EncodedQuery, evidence: list[StoredPassage],
                      context: Context, sentence_vectors: bool = False) -> tuple[QuestionInfo, list[Candidate]]:
    """Every sentence of the evidence with the facts its features need and the constraints it lacks. Sentence
    vectors in a passage's payload are used only with `sentence_vectors` (the model must be trained the same way)."""
    q = QuestionInfo.of(question, context.context_text if context.followup else "")
    constraints = constraints_of(question)
    if context.followup:
        # "E chi ne è il capofila?" is still about the project, place and year asked before; a kind named by a
        # later question ("E in Etiopia?") replaces an earlier one. Roles are what was asked, not what about.
        kinds = {c.kind for c in constraints}
        for earlier in context.earlier_questions:
            inherited = [c for c in constraints_of(earlier) if c.kind not in kinds and c.kind != "role"]
            constraints += inherited
            kinds |= {c.kind for c in inherited}
    qvec = np.asarray(query.selector_dense, dtype=np.float32)
    out: list[Candidate] = []
    seen: set[str] = set()
    top_score = max((p.score for p in evidence), default=0.0)
    by_position = {(p.doc_id, p.position): p for p in evidence}
    for rank, passage in enumerate(evidence):
        sentences = passage.meta.get("sentences") or split_sentences(passage.content)
        vectors = unpack_vectors(passage.meta.get("sentence_vectors", "") if sentence_vectors else "")
        sims = vectors @ qvec if len(vectors) == len(sentences) else np.zeros(len(sentences))
        title_bag = set(content_stems(passage.meta.get("title", "") + " " + passage.meta.get("heading", "")))
        bags = [set(content_stems(s)) for s in sentences]
        # The fields of a project sheet ("Data Inizio: …", "Costo totale: …") describe one thing.
        sheet = set().union(*[b for b, sent in zip(bags, sentences, strict=True) if field_label(sent)])
        currency = CURRENCY_STEMS & set().union(*bags)
        # A passage continues the one before it ("Il progetto ha come capofila…" after the project's name).
        before = by_position.get((passage.doc_id, passage.position - 1))
        whole = passage_evidence(passage.content + ("\n" + before.content if before else ""), passage.meta) \
            if constraints else None
        heads = section_heads(sentences, passage.content)
        items: dict[int, Evidence] = {}
        for i, sent in enumerate(sentences):
            if (len(sent.split()) < 3 and not field_label(sent)) or sent in seen:
                continue  # fragments, and the sentence shared by overlapping passages
            seen.add(sent)
            # What a sentence is about often sits in the two before it ("Esso assomma a …") or the title.
            context_bag = bags[i] | title_bag | set().union(*bags[max(0, i - 2) : i])
            if field_label(sent):
                context_bag |= sheet | currency  # a table's cells are in the unit its caption names
            if heads[i] >= 0:  # the table's or section's heading ("Piano finanziario (euro)")
                context_bag |= bags[heads[i]]
            lacking: list[Constraint] = []
            if whole is not None:
                window = Evidence.of(sentences[i - 1] if i > 0 else "", sent)
                if heads[i] not in items:
                    items[heads[i]] = _item_evidence(sentences, heads, heads[i], passage, before)
                lacking = missing(constraints, whole, window, items[heads[i]])
            facts = SentenceFacts(sent, bags[i], context_bag, float(sims[i]), i, len(sentences), rank,
                                  1.0 - len(lacking) / len(constraints) if constraints else 1.0,
                                  passage.score / top_score if top_score else 0.0,
                                  bags[i + 1] if i + 1 < len(bags) else set(), title_bag)
            out.append(Candidate(passage, facts, lacking, item=items.get(heads[i]), whole=whole,
                                 sections=len({h for h in heads if h >= 0})))
    if context.followup and context.previous_doc_ids and len(q.own_stems - TYPE_WORDS) <= 1:
        # "E quanto costa?" is about what was just answered, not about another project.
        anchored = [c for c in out if c.passage.doc_id in context.previous_doc_ids]
        out = anchored or out
    return q, out


def _item_evidence(sentences: list[str], heads: list[int], head: int, passage: StoredPassage,
                   before: StoredPassage | None) -> Evidence:
    """The item a sentence belongs to: its section of the passage (from its heading to the next), with the part
    of the previous passage its section started in when it has no heading here, plus the document's title,
    lead and metadata. A newsletter's other news are not part of it."""
    body = [s for s, h in zip(sentences, heads, strict=True) if h == head]
    if head < 0 and before is not None:
        earlier = before.meta.get("sentences") or split_sentences(before.content)
        earlier_heads = section_heads(earlier, before.content)
        last = earlier_heads[-1] if earlier_heads else -1
        body = [s for s, h in zip(earlier, earlier_heads, strict=True) if h == last] + body
    return passage_evidence("\n".join(body), passage.meta)
