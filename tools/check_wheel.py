"""The package as others run it: build the wheel as the Dockerfile does, install it (not editable) into a fresh
venv, ingest corpus/ from an empty folder, serve, ask one question over HTTP, check the cited answer and the web
page. A module or data file missing from the wheel fails here, not on a user's server.

Run by `make test` (so by CI) with the stdlib only: `python3 tools/check_wheel.py [--keep]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Chi guida il progetto sulle acque reflue in Palestina?"
EXPECTED = "Prato"  # corpus/000: the Comune di Prato leads the Palestinian waste-water project


def step(message: str) -> None:
    print(f"[wheel-check] {message}", flush=True)


def run(cmd: list[str], **kw) -> None:
    subprocess.run(cmd, check=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wheel-check-"))
    started = time.monotonic()
    server = None
    try:
        step("building the wheel (tools/build_wheel.sh, as the Dockerfile)")
        run(["sh", str(ROOT / "tools" / "build_wheel.sh"), str(tmp / "wheels"), sys.executable])
        wheels = sorted((tmp / "wheels").glob("*.whl"))
        assert len(wheels) == 1, wheels
        step(f"installing {wheels[0].name} into a fresh venv")
        run([sys.executable, "-m", "venv", str(tmp / "venv")])
        bin_ = tmp / "venv" / "bin"
        run([str(bin_ / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheels[0])])

        work = tmp / "work"  # an empty folder: nothing of the source tree can be imported from here
        work.mkdir()
        shutil.copytree(ROOT / "corpus", work / "corpus")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_") and k != "PYTHONPATH"}
        env.update(HAYSTACK_TELEMETRY_ENABLED="False", ASSISTANT_DATA_DIR=str(work / "data"))
        step("assistant ingest corpus --sync")
        run([str(bin_ / "assistant"), "ingest", "corpus", "--sync"], cwd=work, env=env)

        # The eval command outside the project: the unseen set is in the package, corpus/'s set says where it is.
        probe = ("from eval import PACKAGED; import assistant, sys; "
                 "assert 'site-packages' in assistant.__file__, assistant.__file__; "
                 "assert (PACKAGED / 'unseen' / 'questions.jsonl').is_file(); "
                 "assert len(list((PACKAGED / 'unseen' / 'docs').iterdir())) >= 12")
        run([str(bin_ / "python"), "-c", probe], cwd=work, env=env)
        empty = tmp / "empty"
        empty.mkdir()
        res = subprocess.run([str(bin_ / "assistant"), "eval"], cwd=empty, env=env, capture_output=True, text=True)
        assert res.returncode == 2 and "--corpus corpus: not found" in res.stderr, (res.returncode, res.stderr)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        step(f"assistant serve on {base}")
        server = subprocess.Popen([str(bin_ / "assistant"), "serve", "--port", str(port)], cwd=work, env=env,
                                  start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"assistant serve exited with {server.returncode}"
            try:
                status, _ = http("GET", base + "/readyz", timeout=5)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the API was not ready within 180 s"
            time.sleep(0.5)

        status, raw = http("POST", base + "/v1/ask", {"question": QUESTION})
        assert status == 200, (status, raw[:500])
        answer = json.loads(raw)
        assert not answer["abstained"], answer
        assert answer["citations"], answer
        assert EXPECTED in answer["answer"], answer["answer"]
        assert any(EXPECTED in c["quote"] or EXPECTED in c["passage"] for c in answer["citations"]), answer
        step(f"asked {QUESTION!r}: {answer['answer'][:120]!r} [{answer['citations'][0]['doc_id']}]")
        status, page = http("GET", base + "/")
        assert status == 200 and b"htmx" in page, status
        status, js = http("GET", base + "/static/htmx-2.0.11.min.js")
        assert status == 200 and len(js) > 10000, status
        status, raw = http("GET", base + "/openapi.json")
        assert status == 200 and json.loads(raw)["paths"], status
        step(f"passed in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if args.keep:
            step(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
