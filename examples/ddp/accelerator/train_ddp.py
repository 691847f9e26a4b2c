"""DistributedDataParallel training, torchrun style.

Launch with

    torchrun --nproc_per_node=NUM_GPUS train_ddp.py

Each process drives one CUDA device (NCCL backend). Without GPUs it falls back
to the CPU and the gloo backend, and when started with plain ``python`` (no
torchrun environment) it runs as a single-process world of size 1; the caller
then provides MASTER_PORT.
"""
import argparse
import os

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net1 = nn.Linear(32, 64)
        self.relu = nn.ReLU()
        self.net2 = nn.Linear(64, 4)

    def forward(self, x):
        return self.net2(self.relu(self.net1(x)))


def synthetic_dataset(num_samples, seed):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(num_samples, 32, generator=g)
    labels = torch.randint(0, 4, (num_samples,), generator=g)
    return TensorDataset(inputs, labels)


def main():
    parser = argparse.ArgumentParser(description="DDP example")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # Must be set before the first CUDA allocation.
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

    # torchrun provides these; default to a single-process world otherwise.
    for name, default in (("LOCAL_RANK", "0"), ("RANK", "0"), ("WORLD_SIZE", "1"),
                          ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
        os.environ.setdefault(name, default)
    local_rank = int(os.environ["LOCAL_RANK"])
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])

    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
    ifname = os.environ.get("NCCL_SOCKET_IFNAME")
    print(f"[rank {rank}] local_rank={local_rank} world_size={world_size} "
          f"visible GPUs={visible} socket ifname={ifname}", flush=True)

    backend = None if torch.accelerator.is_available() else "gloo"
    dist.init_process_group(backend=backend)

    if torch.accelerator.is_available():
        torch.accelerator.set_device_index(local_rank)
        device = torch.device(f"{getattr(torch.accelerator.current_accelerator(check_available=True), 'type', 'cpu')}:{local_rank}")
    else:
        device = torch.device("cpu")

    torch.manual_seed(args.seed)
    model = ToyModel().to(device)
    ddp_model = DDP(model, device_ids=[local_rank] if device.type == getattr(torch.accelerator.current_accelerator(), "type", "cuda") else None)
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=args.lr)

    dataset = synthetic_dataset(512, seed=args.seed + 1)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                 shuffle=True, seed=args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)

    step = 0
    epoch = 0
    loss = torch.zeros((), device=device)
    while step < args.steps:
        sampler.set_epoch(epoch)
        for inputs, labels in loader:
            if step >= args.steps:
                break
            inputs = inputs.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            optimizer.zero_grad()
            loss = F.cross_entropy(ddp_model(inputs), labels)
            loss.backward()
            optimizer.step()
            step += 1
        epoch += 1

    # Average the last loss over all ranks so that rank 0 reports a global value.
    final_loss = loss.detach().clone()
    dist.all_reduce(final_loss)
    final_loss /= world_size

    dist.barrier()
    if torch.accelerator.is_available():
        torch.accelerator.synchronize()

    if rank == 0:
        checksum = sum(p.detach().double().sum().item() for p in ddp_model.module.parameters())
        print(f"RESULT {final_loss.item():.6f} {checksum:.10f} world_size={world_size}")

    dist.destroy_process_group()


if __name__ == "__main__":
    main()
