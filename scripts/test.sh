#!/usr/bin/env bash
# Install progsynth with every extra its tests exercise, check types and style, then run the whole
# test suite. torch is pinned first: the CPU build is what the transformers-backend tests need, and
# an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[dev,llamacpp,gemma,openai,transformers]'
python -m ruff check src tests perf
python -m mypy --strict src/progsynth
python -m pytest -q "$@"
