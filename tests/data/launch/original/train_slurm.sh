#!/bin/bash
#SBATCH --job-name=llm-pretrain
#SBATCH --nodes=2
#SBATCH --gpus-per-node=8
#SBATCH --export=ALL,NCCL_DEBUG=WARN,CUDA_LAUNCH_BLOCKING=0
# Multi-node DDP on Slurm: one torchrun per node, NCCL over InfiniBand.

set -euo pipefail

export NCCL_SOCKET_IFNAME=ib0
export CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

DIST_BACKEND=nccl
DIST_ARGS="--dist-backend nccl --dist-url tcp://${MASTER_ADDR}:29500"
TRAIN_ARGS=(
    --model gpt2-xl
    --backend nccl
    --epochs 3
)
PROFILE_ARGS="--backend nccl"  # kept for a profiler run, never launched here

# print which cards each node sees, one per line
IFS=, read -r -a cards <<< "$CUDA_VISIBLE_DEVICES"
for CUDA_VISIBLE_DEVICES in "${cards[@]}"; do
    echo "card ${CUDA_VISIBLE_DEVICES}"
done
export CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7

srun --export=ALL,CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 \
    torchrun --nnodes "$SLURM_NNODES" --nproc_per_node 8 \
        --rdzv_backend c10d --rdzv_endpoint "${MASTER_ADDR}:29500" \
        pretrain.py $DIST_ARGS "${TRAIN_ARGS[@]}" \
        --distributed-backend "$DIST_BACKEND"

echo "launched with --backend nccl"  # a message, not a launch
ssh "$MASTER_ADDR" 'echo $CUDA_VISIBLE_DEVICES > /tmp/visible'
