#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs kfconf with the dev and local extras, builds (or
# reuses) the real kube-apiserver, etcd and the benchmark peers, then runs lint, types and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev local
. .venv/bin/activate
scripts/controlplane.sh all
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== pytest"
set +e
pytest -q "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass
[ "$rc" -eq 5 ] && echo "no tests ran" >&2
exit "$rc"
