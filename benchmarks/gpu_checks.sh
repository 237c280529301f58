#!/usr/bin/env bash
# What we run on a lent GPU machine (one command of the device tool): the GPU test lane, then the training
# throughput of ResNet-18 on 64^3 inputs in fp32 / bf16 / fp16, with and without channels-last.
# Logs go to $OUT (or ./gpu-logs). Needs only torch, numpy, pandas, scipy, pyyaml, tqdm, pytest there.
#   bash benchmarks/gpu_checks.sh [batch]
set -u
OUT=${OUT:-gpu-logs}; mkdir -p "$OUT"
B=${1:-32}
export PYTHONPATH=$PWD/lib${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())" | tee -a "$OUT/gpu.txt"
python3 -m pytest -m gpu tests/test_learn_gpu.py -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -15
{
  for amp in off bf16 fp16; do
    for cl in "" "--channels-last"; do
      [ "$amp" = fp16 ] && [ -z "$cl" ] && continue
      echo "# amp=$amp ${cl:-contiguous}"
      python3 benchmarks/bench_train.py --device cuda --case resnet18 --batch "$B" --steps 10 --warmup 3 --amp "$amp" $cl \
        | grep -v '^torch'
    done
  done
} 2>&1 | tee "$OUT/throughput.log"
