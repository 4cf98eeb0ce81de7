#!/usr/bin/env bash
# One-shot GPU benchmark: builds 7B-shaped random int4 and fp16 bundles on the GPU machine itself (too big to
# carry), then for each runs the server with --device webgpu and measures, over HTTP, text ms/token (TPOT) at
# batch 1 and 8 and seconds per CFG image at 256 x 256 (16 x 16 visual tokens, n = 1).
#
# On the lent machine (/work/shared/device/README.md; `bash ../shared/device/pack.sh` here first), one device call:
#   carry [".device"], command:
#   bash .device/prelude.sh && export PATH=/tmp/rt:$PATH && bash bench/gpu.sh 2>&1 | tee $OUT/log
# Dry run on this CPU with the tiny preset (same steps, --device cpu, a few seconds per bundle):
#   PYTHON=/usr/bin/python3 bash bench/gpu.sh --dry-run     (the Python with torch and onnx: Debian's here)
#
# Environment: GPU_BENCH_DIR (where bundles go, default /tmp/unitok-gpu-bench), PYTHON (default python3),
# GPU_BENCH_TOKENS (tokens per stream, default 64), GPU_BENCH_ROUNDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

preset=7b device=webgpu dir=${GPU_BENCH_DIR:-/tmp/unitok-gpu-bench}
if [[ ${1:-} == --dry-run ]]; then preset=tiny device=cpu dir=build/gpu-dry-run; fi
python=${PYTHON:-python3}
tokens=${GPU_BENCH_TOKENS:-64}
rounds=${GPU_BENCH_ROUNDS:-2}
port=${GPU_BENCH_PORT:-8765}
server=''
trap '[[ -n $server ]] && kill "$server" 2>/dev/null || true' EXIT

echo "== $(date -u +%FT%TZ) bench/gpu.sh: preset $preset, device $device, bundles in $dir"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [[ ! -d $dir/bundle-int4 || ! -d $dir/bundle-fp16 ]]; then
  rm -rf "$dir"
  start=$SECONDS
  "$python" bench/make_bench_bundle.py --preset "$preset" --dtypes int4,fp16 "$dir"
  echo "== bundles built in $((SECONDS - start)) s"
fi

for dtype in int4 fp16; do
  bundle=$dir/bundle-$dtype
  echo "== $dtype: $(du -sh "$bundle" | cut -f1), server --device $device"
  node --import tsx src/main.ts --model "$bundle" --device "$device" --port "$port" --log-level warn --max-queue 64 &
  server=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "the server exited while loading"; exit 1; }
    sleep 1
  done
  node --import tsx bench/engine.ts --model "$bundle" --url "http://127.0.0.1:$port" --multi-step '' --no-floor \
    --streams 1,8 --temperatures 0 --images 1 --tokens "$tokens" --rounds "$rounds"
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=''
done
echo "== $(date -u +%FT%TZ) done (TPOT p50 = text ms/token; 's per image' = seconds per CFG image)"
