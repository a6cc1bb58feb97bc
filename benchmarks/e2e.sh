#!/usr/bin/env bash
# End to end, the main job: `./clip4j embed-images DIR --out X.npy` over generated JPEGs (640x480 and
# 800x600) against open_clip in Python on the same files, model and threads (Debian's python3-torch
# 1.13 + open_clip v2.20.0's source, a benchmark-only dependency installed here when missing), and
# clip4j's thread scaling (1, 2, all cores). Each tool runs twice, on the first M images and on all N;
# images/s is (N - M) / (T_N - T_M), so JVM start, imports and model loading cancel out; peak RSS is
# the whole process's (/usr/bin/time) on the N run. The two outputs are compared (largest |difference|).
#   benchmarks/e2e.sh [RESULTS_DIR]   (writes e2e.md and e2e.json there; about 6 min on 2 cores)
# Called by benchmarks/run.sh; BENCH_SMOKE=1 shrinks it to a harness check.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RESULTS="${1:-$ROOT/benchmarks/results}"
WORK="$ROOT/benchmarks/work/e2e"
N=256; M=64; BATCH=32
[[ "${BENCH_SMOKE:-0}" == 1 ]] && { N=16; M=8; BATCH=8; }
CORES="$(nproc)"
PY=/usr/bin/python3
mkdir -p "$WORK" "$RESULTS"
note=""

# The model: random ViT-B-32 weights (the standard vocabulary), written once by LoadMemoryBench.
DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
MODEL="$WORK/model-vit-b-32"
[[ -d "$MODEL" ]] || java -cp "$CP" dev.clip4j.bench.LoadMemoryBench "$WORK" vit-b-32 open_clip >/dev/null

# The python side: Debian packages (torch 1.13, Pillow 9.4) and open_clip's source from the mirror.
python_ok=1
if ! "$PY" -c 'import torch, torchvision, PIL, numpy, regex, wcwidth' 2>/dev/null; then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    apt-get install -y -q python3-torch python3-torchvision python3-pil python3-numpy python3-regex \
      python3-wcwidth python3-tqdm >/dev/null 2>&1 || true
  fi
  "$PY" -c 'import torch, torchvision, PIL, numpy, regex, wcwidth' 2>/dev/null || python_ok=0
fi
OC="$WORK/open_clip-v2.20.0"
if [[ $python_ok == 1 && ! -d "$OC/src/open_clip" ]]; then
  mirror="${OPEN_CLIP_GIT_DIR:-/work/.mirror/mlfoundations+open_clip/repo}"
  mkdir -p "$OC"
  if [[ -d "$mirror" ]]; then
    git --git-dir="$mirror" archive v2.20.0 src 2>/dev/null | tar -x -C "$OC" || true
  elif command -v git >/dev/null; then
    git clone -q --depth 1 --branch v2.20.0 https://github.com/mlfoundations/open_clip "$OC/clone" 2>/dev/null \
      && mv "$OC/clone/src" "$OC/src" || true
  fi
  [[ -d "$OC/src/open_clip" ]] || python_ok=0
fi
FTFY="$WORK/ftfy-v6.1.1"   # open_clip's tokenizer imports ftfy; Debian's release of it is not 6.1.1
if [[ $python_ok == 1 && ! -d "$FTFY/ftfy" ]]; then
  mkdir -p "$FTFY"
  git --git-dir="${FTFY_GIT_DIR:-/work/.mirror/rspeer+python-ftfy/repo}" archive v6.1.1 ftfy 2>/dev/null | tar -x -C "$FTFY" || true
  [[ -d "$FTFY/ftfy" ]] || python_ok=0
fi
STUBS="$WORK/stubs"
mkdir -p "$STUBS/huggingface_hub/utils"
cat > "$STUBS/huggingface_hub/__init__.py" <<'EOF'
# Nothing is downloaded: open_clip >= 2.2x imports these names only.
class EntryNotFoundError(Exception): pass
class RepositoryNotFoundError(Exception): pass
class RevisionNotFoundError(Exception): pass
def hf_hub_download(*a, **k): raise RepositoryNotFoundError("no model hub here")
EOF
cp "$STUBS/huggingface_hub/__init__.py" "$STUBS/huggingface_hub/utils/__init__.py"
echo 'class HfHubHTTPError(Exception): pass' >> "$STUBS/huggingface_hub/utils/__init__.py"

# The images: deterministic smooth gradients with noise, JPEG quality 90, 640x480 and 800x600.
IMAGES="$WORK/images-$N"
if [[ ! -d "$IMAGES" ]]; then
  mkdir -p "$IMAGES.tmp"
  "$PY" - "$IMAGES.tmp" "$N" <<'EOF'
import sys, numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
for i in range(n):
    w, h = (640, 480) if i % 2 == 0 else (800, 600)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 6.28, 3)
    img = np.stack([127 + 100 * np.sin(x / (40 + 9 * c) + y / (55 + 7 * c) + a[c]) for c in range(3)], -1)
    img += rng.normal(0, 12, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(f"{out}/img{i:05d}.jpg", quality=90)
EOF
  mv "$IMAGES.tmp" "$IMAGES"
fi
SUBSET="$WORK/images-$M"
if [[ ! -d "$SUBSET" ]]; then
  mkdir -p "$SUBSET.tmp"
  ls "$IMAGES" | sort | head -n "$M" | while read -r f; do cp "$IMAGES/$f" "$SUBSET.tmp/"; done
  mv "$SUBSET.tmp" "$SUBSET"
fi

# run LABEL OUT.npy DIR CMD...: wall seconds into $secs, peak RSS (MB) into $rss
run() {
  local label="$1" out="$2"; shift 2
  rm -f "$out"
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/rss" "$@" > "$WORK/$label.log" 2>&1 || { echo "e2e: $label failed:" >&2; tail -20 "$WORK/$label.log" >&2; return 1; }
  t1=$(date +%s.%N)
  secs=$(echo "$t1 - $t0" | bc -l)
  rss=$(( $(tail -1 "$WORK/rss") / 1024 ))
}
rate() { printf '%.2f' "$(echo "($N - $M) / ($2 - $1)" | bc -l)"; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

clip4j_cmd() { # THREADS DIR OUT: the command line, for run
  C4=(env "CLIP4J_JAVA_OPTS=-Dclip4j.threads=$1 -Dclip4j.blasThreads=$1" ./clip4j embed-images --model "$MODEL"
    --batch-size "$BATCH" --progress off --overwrite --out "$3" "$2")
}
declare -A C4_RATE C4_RSS
threads_list="1 2"
[[ $CORES -gt 2 ]] && threads_list="1 2 $CORES"
[[ $CORES -lt 2 ]] && threads_list="1"
./clip4j engine >/dev/null 2>&1 || true   # the native cache is warm before timing
for t in $threads_list; do
  clip4j_cmd "$t" "$SUBSET" "$WORK/clip4j-m.npy"; run "clip4j-$t-m" "$WORK/clip4j-m.npy" "${C4[@]}"; tm=$secs
  clip4j_cmd "$t" "$IMAGES" "$WORK/clip4j-n.npy"; run "clip4j-$t-n" "$WORK/clip4j-n.npy" "${C4[@]}"; tn=$secs
  C4_RATE[$t]=$(rate "$tm" "$tn"); C4_RSS[$t]=$rss
done

PY_RATE=""; PY_RSS=""; DIFF=""
if [[ $python_ok == 1 ]]; then
  export PYTHONPATH="$OC/src:$FTFY:$STUBS"
  run "python-m" "$WORK/py-m.npy" "$PY" benchmarks/e2e_openclip.py "$MODEL" "$SUBSET" "$WORK/py-m.npy" "$CORES" "$BATCH"; tm=$secs
  run "python-n" "$WORK/py-n.npy" "$PY" benchmarks/e2e_openclip.py "$MODEL" "$IMAGES" "$WORK/py-n.npy" "$CORES" "$BATCH"; tn=$secs
  PY_RATE=$(rate "$tm" "$tn"); PY_RSS=$rss
  DIFF=$("$PY" -c "import numpy as np,sys; a=np.load(sys.argv[1]); b=np.load(sys.argv[2]); assert a.shape==b.shape, (a.shape,b.shape); print('%.2e' % float(np.abs(a-b).max()))" "$WORK/clip4j-n.npy" "$WORK/py-n.npy")
else
  note="open_clip in Python not run: python3-torch/torchvision/PIL/regex/wcwidth or the sources of open_clip v2.20.0 / ftfy v6.1.1's source unavailable"
fi

all="${CORES}"; [[ -z "${C4_RATE[$all]:-}" ]] && all=$(echo $threads_list | awk '{print $NF}')
{
  echo "# End to end: embed-images over $N JPEGs (640x480, 800x600), ViT-B-32 (random weights), batch $BATCH"
  echo
  echo "Machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "images/s = ($N - $M) / (T($N) - T($M)) over whole-process wall times; peak RSS of the $N-image process"
  echo
  echo "| | images/s | peak RSS MB |"
  echo "|---|---|---|"
  for t in $threads_list; do
    echo "| clip4j, $t thread(s) | ${C4_RATE[$t]} | ${C4_RSS[$t]} |"
  done
  if [[ -n "$PY_RATE" ]]; then
    echo "| open_clip (torch $("$PY" -c 'import torch; print(torch.__version__)'), $CORES threads) | $PY_RATE | $PY_RSS |"
    echo
    echo "clip4j / open_clip: $(ratio "${C4_RATE[$all]}" "$PY_RATE")x images/s at $(ratio "${C4_RSS[$all]}" "$PY_RSS")x the peak RSS (target >= 1.5x at <= 1.0x); largest |clip4j - open_clip| over the $N embeddings: $DIFF"
  else
    echo
    echo "$note"
  fi
} | tee "$RESULTS/e2e.md"
{
  echo "{"
  echo "  \"images\": $N, \"batch\": $BATCH, \"cores\": $CORES,"
  printf '  "clip4j_images_per_s": {'; sep=""; for t in $threads_list; do printf '%s"%s": %s' "$sep" "$t" "${C4_RATE[$t]}"; sep=", "; done; echo "},"
  printf '  "clip4j_peak_rss_mb": {'; sep=""; for t in $threads_list; do printf '%s"%s": %s' "$sep" "$t" "${C4_RSS[$t]}"; sep=", "; done; echo "},"
  echo "  \"open_clip_images_per_s\": ${PY_RATE:-null}, \"open_clip_peak_rss_mb\": ${PY_RSS:-null},"
  echo "  \"max_abs_diff\": ${DIFF:-null}"
  echo "}"
} > "$RESULTS/e2e.json"
