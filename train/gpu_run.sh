#!/usr/bin/env bash
# train/gpu_run.sh - the one prepared command the GPU machine runs: resume, train for a budget,
# evaluate, check the export, and put what must come back under $OUT.
#
#   OUT=/path bash train/gpu_run.sh            # GPU: configs/gpu.json, 7.5 min of training
#   OUT=/tmp/out bash train/gpu_run.sh --tiny  # CPU smoke test: configs/tiny.json, 1 min
#
# Environment: OUT (required: output folder), CKPT (checkpoint folder; default train/ckpt, or
# /tmp/quire-tiny-ckpt with --tiny), MINUTES (training budget, the final eval and the
# checkpoint fit in --reserve-s on top), PYTHON (default python3; Debian's /usr/bin/python3 here),
# STAGE (force A, B or C), PLAN (minutes per stage in this run, default A:3.5,B:2.2 on the GPU:
# a stage whose minutes are spent hands over even if its gate is not met; PLAN= to use only
# the gates), EXTRA (more train.py flags).
# What comes back (the device returns at most 8 files of 16 MiB, 2 folders deep):
#   $OUT/ckpt/{weights-00,weights-01}.safetensors, recipe.json, tokenizer.json  (the checkpoint)
#   $OUT/train.log  (everything printed)   $OUT/LOG.md  (the log lines this run appended)
#   $OUT/export.txt (the export check: sizes, reference/transformers logit differences, and
#                    train/check_transformers.py on a tiny random model)
# The exported model (model.safetensors ~23 MiB) is over the 16 MiB per file that comes back:
# re-create it anywhere from the checkpoint with train/export.py (seconds, CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

TINY=0
for a in "$@"; do
    case "$a" in
        --tiny) TINY=1 ;;
        *) echo "gpu_run.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done
: "${OUT:?set OUT to an output folder}"
mkdir -p "$OUT/ckpt"
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch" 2>/dev/null && [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3
fi
export PYTHONUNBUFFERED=1
# fonts carried with the tree (README "GPU session"): used besides whatever the machine has
if [ -d train/.fonts ]; then
    export QUIRE_FONT_DIRS="$PWD/train/.fonts${QUIRE_FONT_DIRS:+:$QUIRE_FONT_DIRS}"
fi
if [ "$TINY" = 1 ]; then
    CONFIG=train/configs/tiny.json; CKPT=${CKPT:-/tmp/quire-tiny-ckpt}; MINUTES=${MINUTES:-1}
    RESERVE=10; DEVICE_FLAGS="--device cpu"; LOG=${LOG:-/tmp/quire-tiny-LOG.md}
    PLAN=${PLAN-A:0.25,B:0.25}
else
    CONFIG=train/configs/gpu.json; CKPT=${CKPT:-train/ckpt}; MINUTES=${MINUTES:-7.5}
    RESERVE=60; DEVICE_FLAGS=""; PLAN=${PLAN-A:3.5,B:2.2}
fi
LOG=${LOG:-train/LOG.md}
LINES_BEFORE=$( [ -f "$LOG" ] && wc -l < "$LOG" || echo 0 )
T0=$(date +%s)
# a hard stop for train.py in case it hangs (SIGINT: it saves the checkpoint and logs first)
HARD_S=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 + 60 }')

set +e
{
echo "== $(date -u '+%F %T') gpu_run.sh config=$CONFIG ckpt=$CKPT minutes=$MINUTES"
"$PYTHON" - <<'EOF'
import os, torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "", "cpus", os.cpu_count())
EOF
if [ "$TINY" = 0 ]; then
    "$PYTHON" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" ||
        { echo "no CUDA device: use --tiny for a CPU run"; exit 3; }
    command -v nvidia-smi >/dev/null &&
        nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || true
fi
WORKERS=$(( $(nproc) > 3 ? $(nproc) - 2 : 0 ))
[ "$TINY" = 1 ] && WORKERS=0
echo "== fonts"
"$PYTHON" -c "import sys; sys.path.insert(0, 'train'); import synth
print('; '.join(','.join(f['name'] for f in g) for g in synth.font_groups()))"
echo "== train"
timeout --signal=INT --kill-after=30 "$HARD_S" "$PYTHON" train/train.py --config "$CONFIG" --ckpt "$CKPT" --minutes "$MINUTES" \
    --reserve-s "$RESERVE" --workers "$WORKERS" --log "$LOG" $DEVICE_FLAGS \
    ${STAGE:+--stage "$STAGE"} ${PLAN:+--plan "$PLAN"} ${EXTRA:-}
echo $? > "$OUT/.train_rc"
echo "== export check"
rm -rf /tmp/quire-export
"$PYTHON" train/export.py --ckpt "$CKPT" --out /tmp/quire-export --dtype BF16 --check ||
    echo "export check FAILED"
echo "== transformers conformance (issue 4: tiny random model via save_pretrained)"
"$PYTHON" train/check_transformers.py || echo "transformers check FAILED or not possible here"
echo "== done in $(( $(date +%s) - T0 )) s"
} 2>&1 | tee "$OUT/train.log"
set -e
status=$(cat "$OUT/.train_rc" 2>/dev/null || echo 1)
rm -f "$OUT/.train_rc"

cp "$CKPT"/weights-*.safetensors "$CKPT"/recipe.json "$CKPT"/tokenizer.json "$OUT/ckpt/" \
    2>/dev/null || true
[ -f "$LOG" ] && tail -n +"$((LINES_BEFORE + 1))" "$LOG" > "$OUT/LOG.md" || true
sed -n '/^== export check/,/^== done/p' "$OUT/train.log" > "$OUT/export.txt" || true
ls -la "$OUT" "$OUT/ckpt"
exit "$status"
