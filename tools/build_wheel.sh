#!/bin/sh
# The one way the package is built, used by the Dockerfile and by the wheel check of `make test`
# (tools/check_wheel.py): a wheel of this project alone; its dependencies come from the index when it is installed.
# Usage: tools/build_wheel.sh OUT_DIR [PYTHON]
set -eu
out="$1"
py="${2:-python3}"
cd "$(dirname "$0")/.."
"$py" -m pip wheel --quiet --no-deps --wheel-dir "$out" .
