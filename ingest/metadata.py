"""Per-document metadata from a `metadata.json` beside the files ({doc_id: {title, organisation, ...}})."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger("ingest.metadata")
METADATA_FILES = ("metadata.json",)


@lru_cache(maxsize=256)
def _load_dir(directory: Path, mtime: float) -> dict[str, dict[str, Any]]:
    path = directory / "metadata.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("metadata_unreadable", extra={"fields": {"path": path, "error": exc}})
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def metadata_for(path: Path) -> dict[str, Any]:
    meta_path = path.parent / "metadata.json"
    if not meta_path.exists():
        return {}
    return dict(_load_dir(path.parent.resolve(), meta_path.stat().st_mtime).get(path.stem, {}))
