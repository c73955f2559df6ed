"""What the wheel carries is what the tree holds: every package, and every data file the code reads at run
time. (The end-to-end proof, a wheel installed in a fresh venv and served, is tools/check_wheel.py in make test.)"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
SOURCES = {"assistant": ROOT / "src" / "assistant", "ingest": ROOT / "ingest", "bots": ROOT / "bots",
           "eval": ROOT / "eval"}


def test_every_package_of_the_tree_is_found():
    find = CONFIG["packages"]["find"]
    found = {p for where in find["where"] for p in find_packages(str(ROOT / where), include=find["include"])}
    on_disk = {".".join(init.parent.relative_to(base.parent).parts)
               for base in SOURCES.values() for init in base.rglob("__init__.py")}
    assert on_disk <= found, on_disk - found
    assert "assistant.storage.engines" in found and "assistant.api" in found and "assistant.web" in found


def test_every_data_file_the_code_reads_is_package_data():
    globs = CONFIG["package-data"]
    skip = {".py", ".pyc"}
    for package, base in SOURCES.items():
        for path in base.rglob("*"):
            rel = path.relative_to(base).as_posix()
            if not path.is_file() or path.suffix in skip or "__pycache__" in rel:
                continue
            if package == "eval" and rel.startswith(("reports/", "unseen/sources/", "unseen/make_files")):
                continue  # outputs and the sources the unseen files were made from: not read at run time
            assert any(fnmatch.fnmatch(rel, g) for g in globs.get(package, [])), f"{package}/{rel} is not in the wheel"


def test_the_dockerfile_builds_what_the_wheel_check_builds():
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    check = (ROOT / "tools" / "check_wheel.py").read_text(encoding="utf-8")
    assert "RUN sh tools/build_wheel.sh /wheels" in docker and '"build_wheel.sh"' in check
    for base in SOURCES.values():  # every source folder of the package is in the build context
        folder = base.relative_to(ROOT).parts[0]
        assert f"COPY {folder} ./{folder}" in docker, folder
