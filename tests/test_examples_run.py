"""Run each example before and after porting and check they compute the same thing.

Every example under examples/<name>/ has an original CUDA script and the
hand-ported torch_npu version (the reference output of portkit). On this
CPU-only machine both take their "no accelerator" path: the original because
torch.cuda.is_available() is False, the ported one because the CPU stand-in for
torch_npu in tests/npu_stub makes torch.npu.is_available() False. Both must then
train the same model on the same data, so the ``RESULT <loss> <checksum>`` line
each script prints at the end must be identical.

These tests are never skipped: a missing stub or a failing run is a failure.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NPU_STUB = REPO / "tests" / "npu_stub"

# Variables that would change how the scripts behave if inherited from the shell
# running pytest; each run sets what it needs explicitly.
_SCRUBBED_ENV = (
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK",
    "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
    "CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES",
    "PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_NPU_ALLOC_CONF",
    "NCCL_SOCKET_IFNAME", "HCCL_SOCKET_IFNAME",
)

RUN_TIMEOUT = 300


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def example_pair(name: str, filename: str) -> tuple[Path, Path]:
    """Return (original, ported) for an example and check the port changed something."""
    original = EXAMPLES / name / "original" / filename
    ported = EXAMPLES / name / "ported" / filename
    assert original.is_file(), original
    assert ported.is_file(), ported
    original_text = original.read_text(encoding="utf-8")
    ported_text = ported.read_text(encoding="utf-8")
    assert original_text != ported_text, f"{ported} is identical to {original}"
    assert "import torch_npu\n" in ported_text
    assert "import torch_npu\n" not in original_text
    return original, ported


def run_example(script: Path, args: list[str], *, ported: bool, cwd: Path,
                env: dict[str, str] | None = None, launcher: list[str] | None = None) -> str:
    """Run one example script in a subprocess and return its single RESULT line.

    ``ported`` puts the CPU torch_npu stand-in on PYTHONPATH. ``launcher`` is
    inserted between the interpreter and the script (e.g. ``-m torch.distributed.run ...``).
    """
    run_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    # Same thread count for every run, so that CPU kernels reduce in the same order.
    run_env["OMP_NUM_THREADS"] = "1"
    run_env["PYTHONHASHSEED"] = "0"
    run_env["PYTHONUNBUFFERED"] = "1"
    if ported:
        assert (NPU_STUB / "torch_npu").is_dir(), f"CPU stand-in for torch_npu missing: {NPU_STUB}"
        run_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(NPU_STUB), run_env.get("PYTHONPATH", "")) if p)
    if env:
        run_env.update(env)

    cmd = [sys.executable, *(launcher or []), str(script), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=run_env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    if launcher and _gloo_teardown_abort(proc):
        # torch 2.13's gloo sometimes aborts a rank *after* destroy_process_group (its result is
        # already printed): a race in torch's teardown, not in the example. Run it once more.
        proc = subprocess.run(cmd, cwd=cwd, env=run_env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
    detail = (f"command: {cmd}\nexit code: {proc.returncode}\n"
              f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    assert proc.returncode == 0, detail
    results = [line.strip() for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 1, f"expected exactly one RESULT line\n{detail}"
    return results[0]


def _gloo_teardown_abort(proc: subprocess.CompletedProcess[str]) -> bool:
    return (proc.returncode != 0 and "terminate called without an active exception" in proc.stderr
            and sum(line.startswith("RESULT ") for line in proc.stdout.splitlines()) == 1)


def test_mnist_port_matches_original(tmp_path):
    original, ported = example_pair("mnist", "train.py")
    args = ["--steps", "5", "--seed", "1", "--epochs", "1", "--log-interval", "2"]
    expected = run_example(original, args, ported=False, cwd=tmp_path)
    got = run_example(ported, args, ported=True, cwd=tmp_path)
    assert got == expected


def test_amp_port_matches_original(tmp_path):
    original, ported = example_pair("amp", "train_amp.py")
    results = {}
    for is_ported, script in ((False, original), (True, ported)):
        out_dir = tmp_path / ("ported" if is_ported else "original")
        args = ["--steps", "3", "--seed", "0", "--out", str(out_dir)]
        results[is_ported] = run_example(script, args, ported=is_ported, cwd=tmp_path)
        # The checkpoint file name contains "cuda"; the port must not rename it.
        assert (out_dir / "ckpt_cuda.pt").is_file()
    assert results[True] == results[False]


def test_ddp_port_matches_original_single_process(tmp_path):
    original, ported = example_pair("ddp", "train_ddp.py")
    args = ["--steps", "4", "--seed", "0"]
    results = {}
    for is_ported, script in ((False, original), (True, ported)):
        env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
               "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
        results[is_ported] = run_example(script, args, ported=is_ported, cwd=tmp_path, env=env)
    assert results[False].endswith(" world_size=1"), results[False]
    assert results[True] == results[False]


def test_ddp_port_matches_original_torchrun_two_processes(tmp_path):
    original, ported = example_pair("ddp", "train_ddp.py")
    args = ["--steps", "4", "--seed", "0"]
    results = {}
    for is_ported, script in ((False, original), (True, ported)):
        launcher = ["-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
                    "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
        results[is_ported] = run_example(script, args, ported=is_ported, cwd=tmp_path,
                                         launcher=launcher)
    assert results[False].endswith(" world_size=2"), results[False]
    assert results[True] == results[False]


# --- the device-agnostic ports (--target accelerator) run on plain PyTorch -----------------------
# No torch_npu stand-in on the path: code written against torch.accelerator must take its CPU
# path on a machine without an accelerator all by itself. That is the point of the target.


def accelerator_pair(name: str, filename: str) -> tuple[Path, Path]:
    original = EXAMPLES / name / "original" / filename
    ported = EXAMPLES / name / "accelerator" / filename
    text = ported.read_text(encoding="utf-8")
    assert "torch.accelerator." in text and "torch_npu" not in text, ported
    return original, ported


def test_mnist_accelerator_port_matches_original(tmp_path):
    original, ported = accelerator_pair("mnist", "train.py")
    args = ["--steps", "5", "--seed", "1", "--epochs", "1", "--log-interval", "2"]
    expected = run_example(original, args, ported=False, cwd=tmp_path)
    assert run_example(ported, args, ported=False, cwd=tmp_path) == expected


def test_amp_accelerator_port_matches_original(tmp_path):
    original, ported = accelerator_pair("amp", "train_amp.py")
    results = []
    for script, out in ((original, "original"), (ported, "accelerator")):
        args = ["--steps", "3", "--seed", "0", "--out", str(tmp_path / out)]
        results.append(run_example(script, args, ported=False, cwd=tmp_path))
        assert (tmp_path / out / "ckpt_cuda.pt").is_file()
    assert results[1] == results[0]


def test_ddp_accelerator_port_matches_original_torchrun_two_processes(tmp_path):
    original, ported = accelerator_pair("ddp", "train_ddp.py")
    results = []
    for script in (original, ported):
        launcher = ["-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
                    "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
        results.append(run_example(script, ["--steps", "4", "--seed", "0"], ported=False, cwd=tmp_path,
                                   launcher=launcher))
    assert results[0].endswith(" world_size=2"), results[0]
    assert results[1] == results[0]
