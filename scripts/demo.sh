#!/usr/bin/env bash
# The main job on a fresh machine: install kfconf, validate the examples, build the churn example for
# production into out/churn-prod (a tree with kustomization.yaml), and show what the build explains.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
kfconf validate examples
kfconf build examples/churn -e prod -o out/churn-prod
kfconf build examples/llm-finetune -e prod -o out/llm-finetune-prod
echo "--- out/churn-prod:"
find out/churn-prod -type f | sort
