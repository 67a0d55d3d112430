#!/usr/bin/env bash
# The whole GPU table in one short run: every generator x backend x precision (benchmarks/models.py),
# written as one JSON file. Installs nothing: run from the repository root on a machine with a CUDA
# build of torch; vidsynth is imported from this checkout through a temporary package folder.
#
#   OUT=/some/folder bash benchmarks/gpu.sh          # writes $OUT/gpu_models.json and $OUT/gpu_log.txt
#   TOTAL_S=300 bash benchmarks/gpu.sh               # a shorter run (per-case limits scaled down)
#
# Each case runs in its own process under `timeout`, so a hang or crash in one loses only that case;
# a case's rows are written as they are measured, so a time-out keeps what was done. The run ends
# within TOTAL_S seconds (default 440) plus a few seconds to merge.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_out}
TOTAL_S=${TOTAL_S:-440}
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}   # DEVICE=cpu EXTRA="--small --timed 2" smoke-tests this script on a CPU machine
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
PARTS=$(mktemp -d)
LOG=$OUT/gpu_log.txt
: >"$LOG"

# vidsynth's sub-packages are the top-level folders (setup.py maps them): build that mapping with links
SHIM=$PARTS/shim
mkdir -p "$SHIM/vidsynth"
for f in "$ROOT"/vidsynth/*; do ln -s "$f" "$SHIM/vidsynth/"; done
for sub in engine networks geometry streams training; do ln -s "$ROOT/$sub" "$SHIM/vidsynth/$sub"; done
export PYTHONPATH="$SHIM:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# bound cuDNN's per-conv workspace (MiB): the benchmark's algorithm search otherwise reserves tens of GiB
export CUDNN_CONV_WSCAP_DBG=${CUDNN_CONV_WSCAP_DBG:-2048}
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PARTS/inductor}
export PYTHONUNBUFFERED=1

{
  echo "# gpu.sh $(date -u +%FT%TZ) total budget ${TOTAL_S}s"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())" 2>&1
} >>"$LOG"

# case | its share of TOTAL_S (%) | variants (empty: all, in benchmarks/models.py's order)
CASES=(
  "vid2vid_street|25|"
  "fs_vid2vid_face|19|"
  "spade|13|"
  "pix2pixhd|13|"
  "wc_vid2vid|11|eager fp32,compile fp16 cl ro,eager fp16,eager tf32,eager fp16 cl"
  "demo:street|11|eager fp32,eager fp16,eager tf32,eager fp16 cl,eager bf16 cl,compile fp16 cl ro,onnx fp16,onnx fp32,compile bf16 cl ro"
  "demo:spade|8|eager fp32,eager fp16,eager tf32,eager fp16 cl,eager bf16 cl,compile fp16 cl ro,onnx fp16,onnx fp32,compile bf16 cl ro"
)
START=$(date +%s)
i=0
for entry in "${CASES[@]}"; do
  IFS='|' read -r case share variants <<<"$entry"
  limit=$((TOTAL_S * share / 100))
  left=$((TOTAL_S - ($(date +%s) - START)))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 15 ]; then
    echo "{\"case\": \"$case\", \"skipped\": \"no time left in gpu.sh's ${TOTAL_S}s\"}" >"$PARTS/part_$i.skip"
    i=$((i + 1)); continue
  fi
  budget=$((limit * 70 / 100))  # soft: no new variant starts after this; the hard limit is `timeout`
  echo "## $case: ${limit}s (variants start until ${budget}s)" >>"$LOG"
  args=(--device "$DEVICE" --quick --warmup 6 --cases "$case" --budget-s "$budget" --json "$PARTS/part_$i.json")
  [ -n "$variants" ] && args+=(--variants "$variants")
  # shellcheck disable=SC2206
  [ -n "$EXTRA" ] && args+=($EXTRA)
  timeout -k 5 "$limit" $PY -m benchmarks.models "${args[@]}" >>"$LOG" 2>&1
  rc=$?
  [ $rc -ne 0 ] && echo "{\"case\": \"$case\", \"error\": \"exit $rc (124: killed at its ${limit}s limit)\"}" >"$PARTS/part_$i.exit"
  i=$((i + 1))
done

# one JSON: the machine, every row of every case, and what did not finish
$PY - "$PARTS" "$OUT/gpu_models.json" "$TOTAL_S" "$START" <<'EOF' >>"$LOG" 2>&1
import glob, json, os, sys, time
parts, out, total, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
merged = {"script": "benchmarks/gpu.sh", "total_budget_s": int(total), "wall_s": int(time.time()) - start,
          "cudnn_workspace_cap_mib": os.environ.get("CUDNN_CONV_WSCAP_DBG"), "machine": None,
          "peaks_tflops": None, "rows": [], "incomplete": []}
for path in sorted(glob.glob(os.path.join(parts, "part_*"))):
    try:
        with open(path) as f:
            data = json.load(f)
    except Exception as exc:
        merged["incomplete"].append({"file": os.path.basename(path), "error": f"unreadable: {exc}"})
        continue
    if path.endswith(".json"):
        merged["machine"] = merged["machine"] or data.get("machine")
        merged["peaks_tflops"] = merged["peaks_tflops"] or data.get("peaks_tflops")
        merged["rows"] += data.get("rows", [])
    else:
        merged["incomplete"].append(data)
with open(out, "w") as f:
    json.dump(merged, f, indent=1, default=str)
print(f"# wrote {out}: {len(merged['rows'])} rows, {len(merged['incomplete'])} incomplete cases")
EOF
$PY -m benchmarks.models --table "$OUT/gpu_models.json" >>"$LOG" 2>&1
echo "# gpu.sh done in $(( $(date +%s) - START ))s" >>"$LOG"
tail -n 3 "$LOG"
rm -rf "$PARTS"
