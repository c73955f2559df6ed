"""The embedded store's files under `data/`, and the swap that puts a rebuilt index in the live one's place.

One place for these names: the Store (repair on open), reindex (build beside, then swap) and the migration read
them from here.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from assistant.core.config import Settings

log = logging.getLogger("assistant.storage.layout")

SUFFIX = "__reindex"  # a rebuilt index is written beside the live one under this name, then swapped in


def writing_marker(settings: Settings, collection: str) -> Path:
    """Present while a document is being written (a crash leaves it; the next open repairs)."""
    return settings.data_dir / f".{collection}.writing"


def terms_path(settings: Settings, collection: str) -> Path:
    return settings.data_dir / f"{collection}.terms.json.gz"


def snapshot(settings: Settings, collection: str) -> Path:
    folder = settings.data_dir / ".reindex-snapshot"
    shutil.rmtree(folder, ignore_errors=True)
    for name in (collection, f"{collection}_documents"):
        shutil.copytree(settings.data_dir / "edge" / name, folder / "edge" / name)
    return folder


def edge_paths(settings: Settings, collection: str) -> list[Path]:
    root = settings.data_dir / "edge"
    return [root / collection, root / f"{collection}_documents", root / f".{collection}.unoptimized",
            root / f".{collection}.lock", terms_path(settings, collection), writing_marker(settings, collection)]


def swap_marker(settings: Settings, collection: str) -> Path:
    return settings.data_dir / f".{collection}.reindex-swap"


def swap_in(settings: Settings, collection: str) -> None:
    """Put the rebuilt embedded index in the live one's place. Idempotent: a swap cut short is finished by the
    next call (the Store makes it when it opens and finds the marker)."""
    marker = swap_marker(settings, collection)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    root = settings.data_dir / "edge"
    for part in ("", "_documents"):
        live, new = root / f"{collection}{part}", root / f"{collection}{SUFFIX}{part}"
        old = root / f"{collection}{part}.replaced"
        if new.exists():
            if live.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.rename(live, old)
            os.rename(new, live)
    stats = terms_path(settings, f"{collection}{SUFFIX}")
    if stats.exists():
        os.replace(stats, terms_path(settings, collection))
    for stale in (root / f".{collection}{SUFFIX}.lock", root / f".{collection}{SUFFIX}.unoptimized",
                  writing_marker(settings, f"{collection}{SUFFIX}")):
        stale.unlink(missing_ok=True)
    for part in ("", "_documents"):
        shutil.rmtree(root / f"{collection}{part}.replaced", ignore_errors=True)
    marker.unlink()
    log.info("reindex_swapped", extra={"fields": {"collection": collection}})
