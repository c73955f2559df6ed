"""The `assistant` command: ingest, search, ask, serve, eval, bot."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from assistant.core.config import Settings
from assistant.core.logs import setup_logging


def _open_store(settings: Settings):
    from assistant.storage.records import StoreUnavailable
    from assistant.storage.store import Store

    try:
        return Store(settings)
    except StoreUnavailable as exc:
        print(f"error: cannot open the store: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.pipeline import Ingestor

    store = _open_store(settings)
    try:
        summary = Ingestor(store, settings, progress=sys.stderr.isatty() or args.progress).run(
            [Path(p) for p in args.paths], sync=args.sync
        )
        store.optimize()  # HNSW graphs and sparse IDF for what was written (nothing else runs on this store)
    finally:
        store.close()
    print(summary.line())
    return 1 if summary.failed else 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Opening the store migrates a local-mode store (data/qdrant) to Qdrant Edge; this also builds its indexes
    and converts an Edge store of an earlier layout to the current one."""
    from assistant.storage.migration import legacy_collections

    store = _open_store(settings)
    try:
        store.optimize()
        converted = store.upgrade_layout(progress=sys.stderr.isatty())
        if converted:
            print(f"converted {converted} passages to the current layout")
        print(f"store ready: engine={store.engine_name} documents={len(store.documents())} "
              f"passages={store.count_passages()}")
        if legacy_collections(settings.legacy_store_path) and not settings.qdrant_url:
            print(f"the old store in {settings.legacy_store_path} is no longer used and can be deleted")
    finally:
        store.close()
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the passage vectors with the configured embedder (ASSISTANT_EMBEDDER, ASSISTANT_ST_MODEL…)."""
    from assistant.storage.records import StoreUnavailable
    from assistant.storage.reindex import reindex

    try:
        result = reindex(settings, into=args.into)
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"documents={result.documents} embedded={result.embedded} passages={result.passages} "
          f"swapped={result.swapped} collection={result.target}")
    return 0


def _filters(args: argparse.Namespace):
    from assistant.storage.filters import Filters

    return Filters(organisations=args.org or None, countries=getattr(args, "country", None) or None,
                   themes=getattr(args, "theme", None) or None, year_from=getattr(args, "year", None),
                   year_to=getattr(args, "year", None))


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.search.retrieval import Searcher

    store = _open_store(settings)
    try:
        page = Searcher(store).search(args.query, k=args.k, filters=_filters(args), per_document=not args.passages,
                                      mode=args.mode)
    finally:
        store.close()
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(page), ensure_ascii=False, indent=2))
        return 0
    bold, reset = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("**", "**")
    from assistant.core.text import mark_terms

    print(f"{page.total} risultati per «{args.query}»")
    for i, h in enumerate(page.hits, 1):
        print(f"\n{i}. [{h.doc_id}] {h.title} — {h.organisation or 'organizzazione non indicata'}  (score {h.score:.4f})")
        print("   " + mark_terms(h.text, args.query, bold, reset, escape=False).replace("\n", " ")[:700])
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.answers.service import build_service

    store = _open_store(settings)
    try:
        service = build_service(store, settings)
        ans = service.ask(args.question, conversation_id=args.conversation)
    finally:
        store.close()
    if args.json:
        print(json.dumps(ans.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(ans.answer)
    if ans.citations:
        print("\nFonti:")
        for c in ans.citations:
            print(f"[{c.n}] {c.title} — {c.organisation} ({c.doc_id})")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from assistant.api.server import ExposureError, check_exposure, uvicorn_config
    from assistant.app import create_app

    host = args.host or settings.host
    if args.allow_open_network:
        settings = settings.model_copy(update={"allow_open_network": True})
    try:
        check_exposure(host, settings)
    except ExposureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings, host, args.port or settings.port))
    server.run()
    return 0 if server.started else 3  # startup refused (e.g. a store built by another embedder)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from eval import PACKAGED
    from eval.runner import main as eval_main

    # The question sets travel in the package; the corpus/ they are about and squad-it-dev do not.
    args.questions = args.questions or str(PACKAGED / "questions.jsonl")
    missing = [(flag, path) for flag, path in (("--dataset", args.dataset),) if path and not Path(path).is_dir()]
    if not args.dataset and not args.unseen and not Path(args.corpus).is_dir():
        missing.append(("--corpus", args.corpus))
    if not Path(args.questions).is_file():
        missing.append(("--questions", args.questions))
    if missing:
        for flag, path in missing:
            print(f"assistant eval: {flag} {path}: not found (folder {Path.cwd()}).", file=sys.stderr)
        print("The corpus/ set needs the project folder (run there, or pass --corpus DIR); its questions and the "
              f"unseen set are in the package ({PACKAGED}): `assistant eval --unseen` runs anywhere.", file=sys.stderr)
        return 2
    if args.llm:
        settings = settings.model_copy(update={"llm_url": args.llm})
    if args.llm_model:
        settings = settings.model_copy(update={"llm_model": args.llm_model})
    return eval_main(args, settings)


def cmd_train_selector(args: argparse.Namespace, settings: Settings) -> int:
    from eval.selector_training import train

    command = " ".join(["assistant train-selector", *sys.argv[2:]])
    result = train(Path(args.dataset), settings, Path(args.out), command)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_bot(args: argparse.Namespace, settings: Settings) -> int:
    from bots.telegram_bot import run_bot

    return run_bot(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="coop-assistant: ricerca e risposte sui documenti")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index files or folders")
    p.add_argument("paths", nargs="+")
    p.add_argument("--sync", action="store_true", help="remove indexed documents whose files are gone")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("migrate", help="bring a store made by an older version (data/qdrant, or an Edge store of an "
                                       "earlier layout) to the current one")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("search", help="hybrid search, one result per document")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--org", action="append", help="organisation filter (repeatable)")
    p.add_argument("--country", action="append")
    p.add_argument("--theme", action="append")
    p.add_argument("--year", type=int)
    p.add_argument("--passages", action="store_true", help="every matching passage, not one per document")
    p.add_argument("--mode", choices=["hybrid", "dense", "sparse"], default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question from the documents")
    p.add_argument("question")
    p.add_argument("--conversation")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--allow-open-network", action="store_true",
                   help="serve without API keys on a non-loopback address (trusted networks only)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="evaluate retrieval and answers")
    p.add_argument("--corpus", default="corpus")
    p.add_argument("--questions", help="questions file (default: the corpus/ questions packaged with eval)")
    p.add_argument("--dataset", help="folder with corpus.jsonl and queries.jsonl (squad-it-dev format)")
    p.add_argument("--limit", type=int, help="evaluate only the first N queries of a dataset")
    p.add_argument("--reports", default="eval/reports")
    p.add_argument("--gate", help="thresholds file: exit 1 when a gated metric falls below it")
    p.add_argument("--unseen", action="store_true",
                   help="the unseen-documents set (eval/unseen): thresholds chosen on its dev split, test reported")
    p.add_argument("--chat", choices=["plain", "typos"],
                   help="ask the questions as typed in a chat (lowercase, no accents, 'x' for 'per', greetings; "
                        "'typos' also drops a letter of one long word): eval/chat_form.py, seeded")
    p.add_argument("--llm", metavar="URL",
                   help="answer with a language model at this OpenAI-compatible base URL (default: ASSISTANT_LLM_URL); "
                        "the report gets a -llm suffix and the share of dropped sentences and fallbacks")
    p.add_argument("--llm-model", help="the model name to ask for (default: ASSISTANT_LLM_MODEL)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("reindex", help="rebuild the index with the configured embedder (resumable; the old index "
                                       "stays in use until the new one is complete)")
    p.add_argument("--into", help="with a Qdrant server: build into this collection, then set ASSISTANT_COLLECTION")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("train-selector", help="fit the answer-sentence selector on a SQuAD-style data set")
    p.add_argument("--dataset", default="../shared/datasets/squad-it-dev")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "data" / "selector.json"))
    p.set_defaults(func=cmd_train_selector)

    p = sub.add_parser("bot", help="run the Telegram bot (a client of the HTTP API)")
    p.set_defaults(func=cmd_bot)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    args = build_parser().parse_args(argv)
    setup_logging(os.environ.get("ASSISTANT_LOG_LEVEL", "WARNING" if args.command in ("search", "ask") else "INFO"))
    settings = Settings()
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
