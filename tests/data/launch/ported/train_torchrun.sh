#!/usr/bin/env bash
# Launch DDP training on 4 CUDA GPUs.
# Requires CUDA 12.1 and NCCL; set CUDA_VISIBLE_DEVICES to pick the cards.
set -euo pipefail

export ASCEND_RT_VISIBLE_DEVICES=0,1,2,3
export PYTORCH_NPU_ALLOC_CONF=expandable_segments:True
export HCCL_DEBUG=INFO NCCL_IB_DISABLE=1
MY_CUDA_VISIBLE_DEVICES_NOTE="kept as is"

nvidia-smi
echo "CUDA_VISIBLE_DEVICES is set to ${ASCEND_RT_VISIBLE_DEVICES}"
echo 'single quotes: $CUDA_VISIBLE_DEVICES stays'
if [[ -z "${ASCEND_LAUNCH_BLOCKING:-}" ]]; then
    echo "async kernel launches"  # CUDA_LAUNCH_BLOCKING=1 for debugging
fi

NGPUS=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
HCCL_SOCKET_IFNAME=eth0 torchrun --nproc_per_node=4 \
    --master_port=29500 \
    train.py --epochs 10 2>&1 | tee train.log

# a quick debug run on the last two cards, in the wrong order
ASCEND_RT_VISIBLE_DEVICES=3,2 ASCEND_LAUNCH_BLOCKING=1 python train.py --epochs 1
env ASCEND_RT_VISIBLE_DEVICES=1 python eval.py
cat <<EOF > run.env
CUDA_VISIBLE_DEVICES=$ASCEND_RT_VISIBLE_DEVICES
EOF
unset ASCEND_LAUNCH_BLOCKING
