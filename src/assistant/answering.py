"""Answers from the documents: retrieval, evidence sentences, a short Italian answer with numbered citations.

The default answerer is extractive (no language model): it scores the sentences of the retrieved passages
by meaning (e5 sentence vectors stored at ingestion) and words (IDF-weighted stem overlap), prefers sentences
holding the kind of fact the question asks for (an amount, a date, a name), and abstains when the evidence
is weak. Another backend only has to implement `Answerer.compose`.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from .config import Settings
from .conversation import ConversationStore, Turn
from .embedding import unpack_vectors
from .retrieval import EncodedQuery, Searcher, encode_query
from .store import Filters, Store, StoredPassage
from .text import content_stems, looks_english, split_sentences, stem, words

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
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Candidate:
    passage: StoredPassage
    rank: int
    index: int
    text: str
    score: float = 0.0
    dense: float = 0.0
    lexical: float = 0.0
    typed: bool = False
    context: set[str] = field(default_factory=set)  # stems of the sentence, the two before it, title, heading


@dataclass
class Draft:
    text: str
    cited: list[tuple[StoredPassage, list[str]]]
    confidence: float
    abstained: bool


@dataclass
class Context:
    """What the answerer knows of the conversation."""

    followup: bool = False
    context_text: str = ""
    previous_doc_ids: list[str] = field(default_factory=list)
    previous_passages: list[str] = field(default_factory=list)
    previous_question: str = ""


class Answerer(Protocol):
    name: str

    def compose(self, question: str, query: EncodedQuery, evidence: list[StoredPassage], context: Context) -> Draft:
        ...


# --------------------------------------------------------------------------------- question analysis

_ANSWER_TYPES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    # question cue → evidence pattern
    "money": (
        re.compile(r"\b(quant[oi]\s+(?:è\s+)?(?:cost\w*|vale|ha\s+versato|ha\s+ricevuto|ha\s+stanziato|viene\s+a\s+costare)|"
                   r"cost[oi]|budget|importo|valore\s+economico|stanziament\w*|how\s+much|cost|costs|funding\s+amount)\b",
                   re.I),
        re.compile(r"(\d[\d.,]*\s*(?:euro|eur\b|€|mila|milioni|mln)|€\s*\d)", re.I),
    ),
    "date": (
        re.compile(r"\b(quando|in\s+che\s+anno|in\s+quale\s+anno|che\s+data|quale\s+data|data\s+di|periodo|"
                   r"scadenza|inizi(?:o|a|ano|ato|ata|erà)|termin(?:e|a|ano|ato|ata|erà)|finit[oa]|when|"
                   r"what\s+year|date)\b", re.I),
        re.compile(r"\b(\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|(?:19|20)\d{2}|gennaio|febbraio|marzo|aprile|maggio|giugno|"
                   r"luglio|agosto|settembre|ottobre|novembre|dicembre)\b", re.I),
    ),
    "count": (
        re.compile(r"\b(quant[ie]|numero\s+di|how\s+many)\b", re.I),
        # a quantity, not a year
        re.compile(r"\b((?!(?:19|20)\d{2}\b)\d+(?:[.,]\d+)?|due|tre|quattro|cinque|sei|sette|otto|nove|dieci|"
                   r"venti|cento|mille)\b", re.I),
    ),
    "who": (
        # "who did it" (an agent); "quali comuni…" asks for a list of names, not an agent
        re.compile(r"\b(chi|quale\s+(?:ente|comune|organizzazione|soggetto|associazione|ong|fondazione|agenzia)|"
                   r"capofila|who|which\s+(?:organisation|organization|municipality|association|body))\b", re.I),
        # an agent: "finanziato in parti uguali dalla …", "regalati da …", "capofila", "responsabile: …"
        re.compile(r"(\b\w+(?:at|ut|it|ss|tt|lt|s)[oaie]\b(?:\s+[\w’']+){0,3}?\s+(?:da|dal|dalla|dallo|dai|dagli|"
                   r"dalle)\b|\b\w+(?:at|ut|it|ss|tt|lt|s)[oaie]\s+dall['’]|\bcapofila\w*|\bresponsabile\b|\bpresiedut[oa]\b|"
                   r"\bdetiene\b|\bpartner\b|\bcon\s+(?:l['’]|il\s+|la\s+)?[A-Z]{3,})", re.I),
    ),
}
_FOLLOWUP_START = re.compile(r"^\s*(e|ed|ma|and|anche|invece|inoltre|poi|allora|what\s+about|e\s+per)\b", re.I)
_ANAPHORA = {"esso", "essa", "essi", "esse", "lo", "la", "li", "le", "ne", "questo", "questa", "quello", "quella",
             "tale", "suo", "sua", "suoi", "loro", "stesso", "stessa", "it", "its", "this", "that", "they", "them"}
# A sentence that opens with a pronoun or "Il progetto…" needs the one before it to say what it is about.
_PRONOUN_START = re.compile(r"^(esso|essa|essi|esse|tale|questo|questa|quest[oa]\s+\w+|il\s+(?:progetto|documento|"
                            r"programma)\b|l['’](?:iniziativa|intervento)\b)", re.I)
# A "Label: value" line of a project sheet ("Responsabile Progetto: Saveria Spezzano").
_LABEL = re.compile(r"^([A-ZÀ-Ý][^:]{2,40}):\s+\S")
_TYPE_WORDS = {stem(w) for w in ("costo", "costa", "costato", "costare", "spesa", "budget", "importo",
                                 "finanziamento", "valore", "data", "anno", "periodo", "durata", "numero",
                                 "inizia", "iniziato", "finisce", "terminato", "guida", "guidato", "cost",
                                 "funding", "year", "date", "lead", "leads")}


def answer_type(question: str) -> str | None:
    for name, (cue, _) in _ANSWER_TYPES.items():
        if cue.search(question):
            return name
    return None


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
    substantive = [s for s in content_stems(question) if s not in _TYPE_WORDS]
    if len(substantive) <= 1:
        return True
    return not name_stems(question)


def _soft_in(term: str, bag: set[str]) -> bool:
    """Exact stem, or one stem a prefix of the other differing by at most 3 letters (capofila/capofilato)."""
    if term in bag:
        return True
    if len(term) < 6:
        return False
    return any(len(b) >= 6 and abs(len(b) - len(term)) <= 3 and (b.startswith(term) or term.startswith(b))
               for b in bag)


def topic_of(question: str) -> str:
    q = " ".join(question.strip().split()).rstrip("?!. ")
    q = re.sub(r"^(e|ed|ma|and)\s+", "", q, flags=re.I)
    return q[:1].lower() + q[1:] if q else q


# ------------------------------------------------------------------------------------- the answerer


class ExtractiveAnswerer:
    """Selects and lightly composes evidence sentences; abstains below `threshold`."""

    name = "extractive"

    def __init__(self, store: Store, threshold: float = 0.40, max_sentences: int = 3) -> None:
        self.store = store
        self.threshold = threshold
        self.max_sentences = max_sentences

    def _idf(self) -> tuple[int, dict[str, int]]:
        return self.store.term_stats()

    def compose(self, question: str, query: EncodedQuery, evidence: list[StoredPassage], context: Context) -> Draft:
        if not evidence:
            return _abstain(question, context, 0.0)
        n_docs, df = self._idf()

        def idf(term: str) -> float:
            d = df.get(term, 0)
            return math.log(1 + (n_docs - d + 0.5) / (d + 0.5))

        qtype = answer_type(question)
        english = looks_english(question)
        # Of an English question only the names (Oujda, ANCI, PLUS) can occur in the Italian text.
        q_terms = {t: 1.0 for t in (name_stems(question) if english else content_stems(question))}
        for t in content_stems(context.context_text) if context.followup else []:
            q_terms.setdefault(t, 0.5)
        required = {t: w for t, w in q_terms.items() if not (qtype and t in _TYPE_WORDS)}
        total_w = sum(idf(t) * w for t, w in required.items()) or 1.0
        qvec = np.asarray(query.dense, dtype=np.float32)
        own_terms = [t for t in content_stems(question) if t not in _TYPE_WORDS]
        # "Quali comuni …?" asks for a list of the things named after "quali".
        head_match = _LIST_HEAD.match(question.strip())
        list_head = stem(head_match.group(1)) if head_match else None
        anchored = context.followup and bool(context.previous_doc_ids) and len(own_terms) <= 1
        type_pattern = _ANSWER_TYPES[qtype][1] if qtype else None

        def coverage_of(bag: set[str]) -> float:
            if not required:
                return 0.0
            return sum(idf(t) * w for t, w in required.items() if _soft_in(t, bag)) / total_w

        candidates: list[Candidate] = []
        seen_texts: set[str] = set()
        for rank, passage in enumerate(evidence):
            sentences = passage.meta.get("sentences") or split_sentences(passage.content)
            vectors = unpack_vectors(passage.meta.get("sentence_vectors", ""))
            sims = vectors @ qvec if len(vectors) == len(sentences) else np.zeros(len(sentences))
            title_bag = set(content_stems(passage.meta.get("title", "") + " " + passage.meta.get("heading", "")))
            bags = [set(content_stems(s)) for s in sentences]
            # The fields of a project sheet ("Data Inizio: …", "Fonte di finanziamento: …") describe one thing.
            sheet = set().union(*[b for b, sent in zip(bags, sentences, strict=True) if _LABEL.match(sent)])
            for i, sent in enumerate(sentences):
                if (len(sent.split()) < 3 and not _LABEL.match(sent)) or sent in seen_texts:
                    continue  # fragments, and the sentence shared by overlapping passages
                seen_texts.add(sent)
                bag = bags[i]
                # What a sentence is about often sits in the two before it ("Esso assomma a …") or the title.
                context_bag = bag | title_bag | set().union(*bags[max(0, i - 2) : i])
                if _LABEL.match(sent):
                    context_bag |= sheet
                lex = coverage_of(bag)
                lex_ctx = coverage_of(context_bag)
                dense = float(np.clip((float(sims[i]) - 0.77) / 0.12, 0.0, 1.0))
                typed = bool(type_pattern and type_pattern.search(sent))
                relevance = max(dense, lex_ctx) if english else lex_ctx
                if english:
                    score = 0.65 * dense + 0.2 * lex_ctx + 0.04 / (1 + rank)
                else:
                    score = 0.45 * dense + 0.25 * lex + 0.2 * lex_ctx + 0.04 / (1 + rank)
                if qtype:
                    # The kind of fact asked for counts only where the sentence's context is on topic;
                    # a name ("who") is a weaker cue than an amount, a date or a number.
                    numeric = qtype in ("money", "date", "count")
                    if typed:
                        score += (0.3 if numeric else 0.15) * relevance
                    elif numeric:
                        score -= 0.1
                if anchored:
                    # "E quanto costa?" is about what was just answered, not about another project.
                    score += 0.08 if passage.doc_id in context.previous_doc_ids else -0.2
                if list_head and _enumerates(sent, list_head):
                    score += 0.15 * lex_ctx
                label = _LABEL.match(sent)
                if label and not english:
                    label_stems = set(content_stems(label.group(1)))
                    if label_stems and all(_soft_in(t, set(required)) for t in label_stems):
                        score += 0.25  # "Lingua: Italiano" answers "Qual è la lingua del progetto?"
                candidates.append(Candidate(passage, rank, i, sent, score, dense, lex, typed, context_bag))
        if not candidates:
            return _abstain(question, context, 0.0)
        candidates.sort(key=lambda c: c.score, reverse=True)
        best = candidates[0]
        if qtype and not best.typed:
            # A sentence holding the kind of fact asked for wins if it is nearly as good and as much on topic.
            typed = next((c for c in candidates if c.typed), None)
            if (typed is not None and typed.score >= 0.6 * best.score
                    and (typed.passage.doc_id == best.passage.doc_id
                         or coverage_of(typed.context) >= 0.8 * coverage_of(best.context))):
                best = typed

        # Confidence: how close the best sentence is in meaning, and how much of the question its context covers.
        coverage = coverage_of(best.context)
        if not required:
            coverage = 1.0 if context.followup else 0.0
        if english:
            confidence = 0.6 * best.dense + 0.4 * coverage if required else best.dense
        else:
            confidence = 0.4 * best.dense + 0.6 * coverage
        if qtype in ("money", "date", "count") and not best.typed:
            confidence *= 0.4  # asked for an amount, a date or a number, and the evidence has none
        confidence = round(float(confidence), 4)
        if confidence < self.threshold:
            return _abstain(question, context, confidence)

        chosen: list[Candidate] = [best]
        seen_stems = set(content_stems(best.text))
        for cand in candidates:
            if cand is best:
                continue
            if len(chosen) >= self.max_sentences or cand.score < 0.85 * best.score:
                break
            stems_ = set(content_stems(cand.text))
            if not stems_ or len(stems_ - seen_stems) / len(stems_) < 0.5:
                continue  # mostly repeats what is already said (passages overlap by a sentence)
            if qtype and not cand.typed:
                continue
            chosen.append(cand)
            seen_stems |= stems_
        return self._write(chosen, confidence)

    def _write(self, chosen: list[Candidate], confidence: float) -> Draft:
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


_LIST_HEAD = re.compile(r"^(?:e\s+)?(?:quali|which|what)\s+([^\W\d_]{3,})", re.I)
_NAME = re.compile(r"(?<!^)(?<![.:!?]\s)\b(?:[A-ZÀ-Ý][a-zà-ÿ]+|[A-Z]{2,})\b")


def _enumerates(sentence: str, head: str) -> bool:
    """The sentence lists several of the things asked for: the head noun twice, or it and two names."""
    stems = [stem(m.group(0)) for m in words(sentence)]
    count = stems.count(head)
    return count >= 2 or (count >= 1 and len(_NAME.findall(sentence)) >= 3)


def name_stems(question: str) -> list[str]:
    """Stems of the names in a question: capitalised words after the first, acronyms, numbers."""
    out = []
    for i, m in enumerate(words(question)):
        w = m.group(0)
        if (i > 0 and w[0].isupper()) or w[0].isdigit() or (len(w) > 1 and w.isupper()):
            out.append(stem(w))
    return out


def _abstain(question: str, context: Context, confidence: float) -> Draft:
    text = ABSTAIN_TEMPLATE.format(topic=topic_of(question))
    if context.followup and context.previous_question:
        text = text[:-1] + f", riferito alla domanda precedente («{context.previous_question.strip()}»)."
    return Draft(text, [], confidence, True)


def _strip_bullet(text: str) -> str:
    return re.sub(r"^[-•·*]\s+", "", text.strip())


# ----------------------------------------------------------------------------------------- service


class AskService:
    """Question → follow-up resolution → retrieval → answerer → recorded turn."""

    def __init__(self, store: Store, settings: Settings, answerer: Answerer | None = None,
                 conversations: ConversationStore | None = None) -> None:
        self.store = store
        self.settings = settings
        self.searcher = Searcher(store)
        self.answerer = answerer or ExtractiveAnswerer(store, settings.abstain_threshold,
                                                       settings.max_answer_sentences)
        self.conversations = conversations or ConversationStore(
            settings.conversation_max_turns, settings.conversation_max_chars,
            settings.conversation_ttl_seconds, settings.conversation_max_count,
        )

    def ask(self, question: str, conversation_id: str | None = None, filters: Filters | None = None) -> Answer:
        t0 = time.perf_counter()
        conv = self.conversations.get(conversation_id)
        history = self.conversations.history(conv.id)
        followup = is_followup(question, bool(history))
        context = Context(followup=followup)
        query_text = question
        if followup:
            last = history[-1]
            context = Context(True, last.resolved_query, last.cited_doc_ids, last.cited_passages, last.question)
            query_text = f"{question} {last.resolved_query}"
        encoded = encode_query(query_text)
        t1 = time.perf_counter()
        evidence = self.searcher.passages(encoded, limit=self.settings.answer_passages, filters=filters)
        t2 = time.perf_counter()
        draft = self.answerer.compose(question, encoded, evidence, context)
        t3 = time.perf_counter()
        citations = [
            Citation(n=i, doc_id=p.doc_id, title=p.meta.get("title", ""), organisation=p.meta.get("organisation", ""),
                     passage_id=f"{p.doc_id}#{p.position}", heading=p.meta.get("heading", ""),
                     quote=" ".join(quotes), passage=p.content)
            for i, (p, quotes) in enumerate(draft.cited, 1)
        ]
        answer_id = uuid.uuid4().hex
        self.conversations.append(conv.id, Turn(question, query_text, draft.text, [c.doc_id for c in citations],
                                                [c.passage_id for c in citations], answer_id))
        return Answer(
            question=question, answer=draft.text, citations=citations, abstained=draft.abstained,
            conversation_id=conv.id, answer_id=answer_id, confidence=draft.confidence, resolved_query=query_text,
            followup=followup,
            timings_ms={"embed": round((t1 - t0) * 1000, 1), "retrieve": round((t2 - t1) * 1000, 1),
                        "compose": round((t3 - t2) * 1000, 1)},
        )


def build_service(store: Store, settings: Settings) -> AskService:
    return AskService(store, settings)
