#!/usr/bin/env bash
# One call on a lent GPU machine: environment report, the device-marked
# tests, then a short training suite on CUDA. Written without a GPU at hand;
# every step is independent and the script reports which failed.
#
#   bash benchmarks/gpu_check.sh            # from the repository root
#   OUT=/some/dir bash benchmarks/gpu_check.sh   # logs under $OUT
#
# Assumes a Python environment with torch (CUDA build), torch_geometric and
# this repository's requirements; set PYTHON to pick another interpreter.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT:-/tmp/mmgraph-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
failed=()

step() {  # step NAME TIMEOUT_S CMD...
    local name=$1 limit=$2; shift 2
    echo "=== $name"
    local t0=$SECONDS
    if timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; then
        echo "    ok ($((SECONDS - t0)) s)"
    else
        echo "    FAILED rc=$? ($((SECONDS - t0)) s); last lines:"
        tail -n 15 "$OUT/$name.log" | sed 's/^/    /'
        failed+=("$name")
    fi
}

step env 60 bash -c "nvidia-smi; $PYTHON - <<'PY'
import torch, torch_geometric
print('torch', torch.__version__, 'cuda', torch.version.cuda,
      'available', torch.cuda.is_available(),
      'devices', torch.cuda.device_count())
print('pyg', torch_geometric.__version__)
assert torch.cuda.is_available(), 'no CUDA device visible to torch'
PY"

# The device-marked tests (tests/train/test_device.py and any other).
step device_tests 300 "$PYTHON" -m pytest -q -p no:cacheprovider -m device \
    tests

# A short suite: every model two epochs on synthetic data on CUDA, plus
# sampled LightGCN, each through the command line.
for model in mf lightgcn vbpr freedom bm3 cm3 lirdrec; do
    step "train_$model" 180 "$PYTHON" -m mmgraph.cli train --model "$model" \
        --device cuda --epochs 2 --no-progress --out "$OUT/runs/$model"
done
step train_lightgcn_sampled 180 "$PYTHON" -m mmgraph.cli train \
    --model lightgcn --device cuda --epochs 2 --no-progress --sampled \
    --set 'num_neighbors=[10,10]' --out "$OUT/runs/lightgcn-sampled"

# NCCL data parallelism needs one GPU per rank.
ngpu=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' \
       2>/dev/null || echo 0)
if [ "${ngpu:-0}" -ge 2 ]; then
    step torchrun_nccl 300 "$PYTHON" -m torch.distributed.run --standalone \
        --nproc_per_node 2 -m mmgraph.cli train --model lightgcn \
        --device cuda --epochs 2 --no-progress --out "$OUT/runs/dp2"
else
    echo "=== torchrun_nccl skipped: $ngpu GPU(s), NCCL needs one per rank"
fi

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "gpu_check: all steps passed (logs in $OUT)"
else
    echo "gpu_check: FAILED: ${failed[*]} (logs in $OUT)"
    exit 1
fi
