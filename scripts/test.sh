#!/usr/bin/env bash
# Install progsynth with every extra its tests exercise, check types and style, then run the whole
# test suite. torch is pinned first: the CPU build is what the transformers-backend tests need, and
# an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
# The report's browser test (tests/test_report_browser.py) opens the HTML in Debian's headless chromium.
if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
fi
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[dev,llamacpp,gemma,openai,transformers,finetune,ray]'
python -m ruff check src tests perf
python -m mypy --strict src/progsynth
python -m pytest -q "$@"
