#!/usr/bin/env bash
# Launch DDP training on 4 CUDA GPUs.
# Requires CUDA 12.1 and NCCL; set CUDA_VISIBLE_DEVICES to pick the cards.
set -euo pipefail

export CUDA_VISIBLE_DEVICES=0,1,2,3
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
export NCCL_DEBUG=INFO NCCL_IB_DISABLE=1
MY_CUDA_VISIBLE_DEVICES_NOTE="kept as is"

nvidia-smi
echo "CUDA_VISIBLE_DEVICES is set to ${CUDA_VISIBLE_DEVICES}"
echo 'single quotes: $CUDA_VISIBLE_DEVICES stays'
if [[ -z "${CUDA_LAUNCH_BLOCKING:-}" ]]; then
    echo "async kernel launches"  # CUDA_LAUNCH_BLOCKING=1 for debugging
fi

NGPUS=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
NCCL_SOCKET_IFNAME=eth0 torchrun --nproc_per_node=4 \
    --master_port=29500 \
    train.py --epochs 10 2>&1 | tee train.log

# a quick debug run on the last two cards, in the wrong order
CUDA_VISIBLE_DEVICES=3,2 CUDA_LAUNCH_BLOCKING=1 python train.py --epochs 1
env CUDA_VISIBLE_DEVICES=1 python eval.py
cat <<EOF > run.env
CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES
EOF
unset CUDA_LAUNCH_BLOCKING
