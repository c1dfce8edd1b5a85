#!/usr/bin/env bash
# The GPU check of issue 21 in one call on the device machine (~7-10 minutes; `--parts compiled`
# alone if a first call was cut off): bench/bench_gpu.py.
cd "$(dirname "$0")/.." && PYTHONUNBUFFERED=1 exec "${PYTHON:-python3}" bench/bench_gpu.py ${OUT:+--out "$OUT"} "$@"
