#!/bin/sh
# train/reader.sh CKPT [SAMPLES] - trains the line reader that quire ships in models/quire-reader
# (the vision encoder with a CTC head: stage A of the model's recipe) on CPU, resumable, then
# exports it. Each train.py run is 8 minutes on one core; rerun the script to go on.
#
#   1. configs/cpu_probe.json, stage A, until 346k line tiles (4-step CTC head, lines of table
#      text, x-height 8-10 px): where the shipped reader started.
#   2. configs/reader.json, stage A, until SAMPLES line tiles in all (default 1,800,000): the head
#      widened to 8 sub-steps per patch column (train.py widen_ctc_head), single words, short
#      values and random letters in half the bands, a scanned look in half the tiles, x-height
#      7-11 px.
#   3. export.py --reader CKPT -> models/quire-reader (F32, 2.3 MiB).
#
# The data seeds follow the runs (a fresh seed offset per run), so a rerun gets a reader of the
# same recipe and about the same figures, not the same bytes.
set -eu
CK=${1:?usage: train/reader.sh CKPT [SAMPLES]}
TARGET=${2:-1800000}
PY=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
sh tools/install-deps.sh --fonts
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
samples() {
    [ -f "$CK/recipe.json" ] || { echo 0; return; }
    "$PY" -c "import json; print(json.load(open('$CK/recipe.json'))['samples']['A'])"
}
while [ "$(samples)" -lt 346000 ]; do
    "$PY" train/train.py --config train/configs/cpu_probe.json --ckpt "$CK" --device cpu \
        --workers 0 --stage A --minutes 8
done
while [ "$(samples)" -lt "$TARGET" ]; do
    "$PY" train/train.py --config train/configs/reader.json --ckpt "$CK" --device cpu \
        --workers 1 --stage A --minutes 8
done
"$PY" train/export.py --ckpt "$CK" --out models/quire-reader --reader
