"""Automatic mixed precision (AMP) training with checkpoint / resume.

A small regression MLP is trained under torch.cuda.amp (autocast + GradScaler)
when a GPU is present, checkpointed, reloaded onto the same device and trained
for a few more steps. On a CPU-only machine AMP is disabled and everything runs
in float32.
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.amp import autocast, GradScaler


class MLP(nn.Module):
    def __init__(self, in_features=64, hidden=128, out_features=8):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x):
        return self.layers(x)


def train_steps(model, opt, scaler, batches, device, use_cuda, use_amp):
    loss = None
    for x, y in batches:
        x = x.to(getattr(torch.accelerator.current_accelerator(check_available=True), "type", "cpu")) if use_cuda else x
        y = y.to(device)
        opt.zero_grad(set_to_none=True)
        with autocast(getattr(torch.accelerator.current_accelerator(check_available=True), "type", "cuda"), enabled=use_amp):
            loss = F.mse_loss(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    if x.is_cuda:
        print(f"peak CUDA memory: {(torch.accelerator.max_memory_allocated() if torch.accelerator.is_available() else 0) / 2**20:.1f} MiB")
    return loss


def make_batches(num_batches, seed, batch_size=32):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(64, 8, generator=g)
    batches = []
    for _ in range(num_batches):
        x = torch.randn(batch_size, 64, generator=g)
        batches.append((x, torch.tanh(x @ w)))
    return batches


def main():
    parser = argparse.ArgumentParser(description="AMP training with checkpointing")
    parser.add_argument("--steps", type=int, default=6, help="steps before and after the checkpoint")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the checkpoint")
    parser.add_argument("--no-cuda", action="store_true", default=False)
    parser.add_argument("--no-amp", action="store_true", default=False)
    args = parser.parse_args()

    use_cuda = not args.no_cuda and torch.accelerator.is_available()
    use_amp = use_cuda and not args.no_amp
    device = torch.device(getattr(torch.accelerator.current_accelerator(check_available=True), "type", "cpu") if use_cuda else "cpu")
    print(f"device={device} amp={use_amp}")

    torch.manual_seed(args.seed)
    if torch.accelerator.is_available():
        torch.get_device_module().manual_seed_all(args.seed)
    # TF32 tensor cores: faster matmuls/convolutions on Ampere and newer.
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    model = MLP().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    scaler = GradScaler(getattr(torch.accelerator.current_accelerator(check_available=True), "type", "cuda"), enabled=use_amp)

    batches = make_batches(2 * args.steps, seed=args.seed + 1)
    train_steps(model, opt, scaler, batches[:args.steps], device, use_cuda, use_amp)

    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "ckpt_cuda.pt")
    torch.save({
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict(),
        "step": args.steps,
    }, ckpt_path)
    print(f"saved checkpoint to {ckpt_path}")

    del model, opt, scaler
    if use_cuda:
        if torch.accelerator.is_available():
            torch.accelerator.empty_cache()

    checkpoint = torch.load(ckpt_path, map_location=device)
    model = MLP().to(device)
    model.load_state_dict(checkpoint["model"])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    opt.load_state_dict(checkpoint["optimizer"])
    scaler = GradScaler(getattr(torch.accelerator.current_accelerator(check_available=True), "type", "cuda"), enabled=use_amp)
    scaler.load_state_dict(checkpoint["scaler"])
    print(f"resumed from step {checkpoint['step']}")

    loss = train_steps(model, opt, scaler, batches[args.steps:], device, use_cuda, use_amp)

    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"RESULT {loss.item():.6f} {checksum:.10f}")


if __name__ == "__main__":
    main()
