"""Asking: a question, its follow-up resolution, retrieval, the configured answerer, and the recorded turn."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from assistant.answers.candidates import Context
from assistant.answers.conversation import ConversationStore, Turn
from assistant.answers.extractive import ExtractiveAnswerer
from assistant.answers.followups import is_followup
from assistant.answers.listing import is_list_question
from assistant.answers.respell import respell
from assistant.answers.types import Answer, Answerer, Citation
from assistant.core.config import Settings
from assistant.search.retrieval import Searcher
from assistant.storage.filters import Filters
from assistant.storage.records import StoredPassage
from assistant.storage.store import Store


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
                     quote=" ".join(quotes), passage=p.content, page=_page(p, quotes))
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
    from assistant.answers.llm import build_llm_answerer

    return build_llm_answerer(extractive, settings)


def build_service(store: Store, settings: Settings) -> AskService:
    return AskService(store, settings)


def _page(passage: StoredPassage, quotes: list[str]) -> int | None:
    """The PDF page of the first sentence quoted from `passage` (None for documents without pages)."""
    pages = passage.meta.get("sentence_pages") or []
    for sentence, page in zip(passage.meta.get("sentences") or [], pages, strict=False):
        if quotes and sentence and sentence in quotes[0]:
            return page
    return passage.meta.get("page")
