"""`portkit analyze`: each finding kind on the shapes real code has (nanoGPT, LLaMA as Meta and
Hugging Face write it, SwiGLU MLPs, training loops), what it must not report, the release it is
asked about, and the command around it (exit codes, reports, suppressions, check leaving it alone)."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from portkit.cli import main
from portkit.model import Finding
from portkit.pipeline.analyze import analyze_rules
from portkit.python.analysis import Settings, analyze_text
from portkit.ruleset import load_rules
from portkit.ruleset.api_ops import NpuFunctions

REPO = Path(__file__).resolve().parents[1]
RULES = analyze_rules(load_rules())


def settings(version: str | None = None) -> Settings:
    return Settings.load(dataclasses.replace(RULES, npu_version=version))


def findings(code: str, version: str | None = None) -> list[Finding]:
    return list(analyze_text(textwrap.dedent(code).lstrip("\n"), settings(version)))


def ids(code: str, version: str | None = None) -> list[str]:
    return [f.rule_id for f in findings(code, version)]


# ---- op-unsupported ---------------------------------------------------------------------------

CHOLESKY = """
import torch

def solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    factor = torch.linalg.cholesky(a)
    return torch.cholesky_solve(b, factor)
"""


def test_an_operator_a_release_lacks_is_reported_with_the_release_that_has_it() -> None:
    found = [f for f in findings(CHOLESKY, "2.9.0") if "linalg.cholesky" in f.message]
    assert len(found) == 1 and found[0].evidence == "static-table"
    assert "torch_npu 2.13.0 runs it on the NPU" in found[0].message
    assert "runs on the CPU" in found[0].message
    assert not [f for f in findings(CHOLESKY, "2.13.0") if "linalg.cholesky" in f.message]


def test_cpu_fallback_cost_and_the_disable_switch_per_release() -> None:
    code = "import torch\nv = torch.linalg.eigh(torch.eye(3))\n"
    newest, oldest = findings(code, "2.13.0")[0].message, findings(code, "2.1.0.post17")[0].message
    assert "_linalg_eigh.eigenvalues" in newest and "copies every tensor argument to the host" in newest
    assert "TORCH_NPU_FALLBACK_CPU_DISABLE=1" in newest and "TORCH_NPU_FALLBACK_CPU_DISABLE" not in oldest


def test_a_reviewed_replacement_is_offered() -> None:
    message = findings("import torch.nn.functional as F\nloss = F.huber_loss(p, t)\n")[0].message
    assert "smooth_l1_loss(input, target, beta=1.0)" in message


def test_what_runs_on_the_npu_is_not_reported() -> None:
    code = """
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln = nn.LayerNorm(64)
            self.fc = nn.Linear(64, 64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.gelu(self.fc(self.ln(x)))
            return torch.topk(y.sort(-1).values, 3).values + torch.scatter(y, 1, idx, src, reduce="add")
    """
    assert "op-unsupported" not in ids(code)  # scatter.reduce lacks a kernel, scatter.src has one: not known


def test_tensor_methods_need_a_known_tensor() -> None:
    known = "import torch\n\ndef f(a: torch.Tensor):\n    return a.lgamma()\n"
    unknown = "import torch\n\ndef f(a):\n    return a.lgamma()\n"
    found = findings(known)
    assert [f.rule_id for f in found] == ["op-unsupported"] and found[0].evidence == "static-table"
    assert ids(unknown) == []


# ---- float64 ----------------------------------------------------------------------------------


def test_float64_in_its_spellings() -> None:
    code = """
    import torch as th
    from torch import float64

    def f(x: th.Tensor):
        a = x.to(th.float64)
        b = th.zeros(3, dtype=th.double, device=x.device)
        c = th.DoubleTensor(3)
        th.set_default_dtype(float64)
        return x.double()
    """
    found = findings(code)
    assert [f.span.line for f in found if f.rule_id == "float64"] == [5, 6, 7, 8, 9]
    assert found[-1].evidence == "value-flow"


def test_float64_made_on_the_host_is_said_so_and_comparisons_are_not_compute() -> None:
    code = """
    import numpy as np
    import torch

    freqs = torch.arange(0, 64, 2, dtype=torch.float64)
    if freqs.dtype == torch.float64:
        pass
    table = np.zeros(3, dtype=np.float64)
    """
    found = findings(code)
    assert [f.span.line for f in found] == [4]
    assert "made on the host" in found[0].message


# ---- dynamic-shape and host-sync --------------------------------------------------------------


def test_dynamic_shapes() -> None:
    code = """
    import torch
    import torch.nn.functional as F

    def step(x: torch.Tensor, labels: torch.Tensor):
        kept = x[x > 0]
        x[x < 0] = 0
        onehot = F.one_hot(labels)
        fixed = F.one_hot(labels, num_classes=10)
        return torch.unique(labels), kept, onehot, fixed
    """
    assert [(f.rule_id, f.span.line) for f in findings(code)] == [
        ("dynamic-shape", 5), ("dynamic-shape", 7), ("dynamic-shape", 9)]


def test_host_syncs_on_device_tensors_only() -> None:
    code = """
    import torch

    def train_step(model, batch, logits: torch.Tensor):
        loss = model(batch)
        print(loss.item())
        correct = (logits.argmax(-1) == batch).sum().item()
        seed = torch.randint(0, 100, (1,)).item()
        return logits.cpu().numpy(), correct, seed
    """
    assert [(f.rule_id, f.span.line) for f in findings(code)] == [("host-sync", 6), ("host-sync", 8)]


# ---- fused operators --------------------------------------------------------------------------

HF_LLAMA = """
import torch
from torch import nn


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


class LlamaMLP(nn.Module):
    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))
"""


def test_hugging_face_llama() -> None:
    found = findings(HF_LLAMA)
    assert [(f.rule_id, f.span.line) for f in found] == [
        ("fused-rmsnorm", 15), ("fused-rotary", 22), ("fused-rotary", 28), ("fused-rotary", 29), ("fused-swiglu", 35)]
    assert "two projections" in found[-1].message and "rotary_mode='half'" in found[2].message


META_LLAMA = """
import torch
import torch.nn.functional as F


def apply_rotary_emb(xq, xk, freqs_cis):
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    xq_out = torch.view_as_real(xq_ * freqs_cis).flatten(3)
    xk_out = torch.view_as_real(xk_ * freqs_cis).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


def attention(xq, keys, values, head_dim, mask):
    scores = torch.matmul(xq, keys.transpose(2, 3)) / head_dim ** 0.5
    if mask is not None:
        scores = scores + mask
    scores = F.softmax(scores.float(), dim=-1).type_as(xq)
    return torch.matmul(scores, values)
"""


def test_meta_llama_complex_rotary_and_attention() -> None:
    found = findings(META_LLAMA)
    assert [(f.rule_id, f.span.line) for f in found] == [
        ("fused-rotary", 8), ("fused-rotary", 9), ("fused-attention", 18)]
    assert "interleave" in found[0].message


NANOGPT = """
import math
import torch
import torch.nn as nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        if self.flash:
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
            att = F.softmax(att, dim=-1)
            att = self.attn_dropout(att)
            y = att @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


def manual(q, k, v):
    att = F.softmax((q @ k.transpose(-2, -1)) * 0.125, dim=-1)
    att = self.attn_dropout(att)
    y = att @ v
    return self.proj(y) @ w


def optimizer(model, lr):
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), fused=True)
"""


def test_nanogpt() -> None:
    """Its written-out attention is the fallback of an SDPA call: only the bare one is reported,
    once (not again at the projection after it)."""
    found = findings(NANOGPT)
    assert [(f.rule_id, f.span.line) for f in found] == [("fused-attention", 25), ("fused-optimizer", 30)]
    assert "keep_prob is 1 - dropout" in found[0].message and "True where attention is NOT allowed" in found[0].message
    assert "drop fused=" in found[1].message and "torch_npu.optim.NpuFusedAdamW" in found[1].message


def test_lookalikes_are_not_fused_patterns() -> None:
    code = """
    import torch
    import torch.nn.functional as F

    def layer_norm(x, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + eps)

    def spatial_rms(x, eps=1e-5):
        return x / x.square().mean(dim=(2, 3), keepdim=True).add(eps).sqrt()

    def geglu(x, gate):
        return F.gelu(gate) * x

    def concat(a, b):
        return torch.cat((-a, b), dim=-1), torch.cat((a, b), dim=0)

    def classify(features, weight):
        return F.softmax(features @ weight, dim=-1) @ weight.T
    """
    assert ids(code) == []


def test_swiglu_on_the_halves_of_one_projection() -> None:
    code = """
    import torch.nn.functional as F

    def forward(self, x):
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)
    """
    (found,) = findings(code)
    assert found.rule_id == "fused-swiglu" and "halves of self.w12(x)" in found.message


def test_a_name_the_release_lacks_is_named() -> None:
    lacking = dataclasses.replace(settings(), npu=NpuFunctions("9.9.9", {}, frozenset()))
    (found,) = analyze_text("import torch\ndef f(x):\n    return torch.optim.SGD(x, lr=0.1)\n", lacking)
    assert "torch_npu 9.9.9 does not have torch_npu.optim.NpuFusedSGD (2.1.0.post17 has it)" in found.message


def test_non_ascii_lines_have_character_columns() -> None:
    (found,) = findings("import torch\nnom_été = torch.arange(3, dtype=torch.float64)\n")
    assert found.span.column == 11 and found.line_text.startswith("nom_été")


def test_files_without_torch_are_not_parsed() -> None:
    assert analyze_text("this is not python (", settings()) == ()


# ---- the command --------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "model.py").write_text(textwrap.dedent(HF_LLAMA), encoding="utf-8")
    (tmp_path / "train.py").write_text(
        "import torch\nx = torch.zeros(3).double()  # portkit: ignore[float64]\ny = torch.ones(2).double()\n",
        encoding="utf-8")
    (tmp_path / "requirements.txt").write_text("transformers==4.31.0\naccelerate>=0.30\n", encoding="utf-8")
    (tmp_path / "notebook.ipynb").write_text("{}", encoding="utf-8")
    return tmp_path


def test_analyze_command(project: Path) -> None:
    report = project / "analysis.json"
    result = CliRunner().invoke(main, ["analyze", "--no-config", str(project), "--report", str(report), "-j", "1"])
    assert result.exit_code == 1, result.output
    assert "3 files analysed for torch_npu 2.13.0, 7 findings"  # not the notebook: in result.output.replace("\n", " ")
    data = json.loads(report.read_text(encoding="utf-8"))
    schema = json.loads((REPO / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["command"] == "analyze" and data["torch_npu"] == "2.13.0"
    by_file = {f["path"].rsplit("/", 1)[-1]: [m["rule"] for m in f["manual_items"]] for f in data["files"]}
    assert by_file["train.py"] == ["float64"]  # the suppressed line is left out
    assert by_file["requirements.txt"] == ["npu-library-version"]


def test_select_and_clean_exit(project: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", "--no-config", str(project), "--select", "fused-swiglu,float64",
                                       "--ignore", "float64", "-j", "1"])
    assert result.exit_code == 1 and "fused-swiglu" in result.output and "float64" not in result.output.split(
        "Findings:")[1]
    (project / "clean.py").write_text("import torch\nprint(torch.ones(2) + 1)\n", encoding="utf-8")
    clean = CliRunner().invoke(main, ["analyze", "--no-config", str(project / "clean.py")])
    assert clean.exit_code == 0, clean.output


def test_a_file_that_does_not_parse_exits_2(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import torch\ny = x.item(\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["analyze", "--no-config", str(tmp_path)])
    assert result.exit_code == 2 and "not valid Python" in result.output


def test_an_unknown_release_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", "--no-config", "--torch-npu", "1.0", str(tmp_path)])
    assert result.exit_code == 2 and "unknown torch_npu version '1.0'" in result.output


def test_check_does_not_run_the_analysis_but_knows_its_ids(project: Path) -> None:
    """`check` never reports float64, knows the id a suppression names, and does not call that
    suppression unused: it silences a rule that `analyze` runs."""
    out = project / "check.json"
    CliRunner().invoke(main, ["check", "--no-config", "--no-cache", "--output-format", "json",
                              "--output-file", str(out), str(project / "train.py")])
    rules = [d["rule"] for d in json.loads(out.read_text(encoding="utf-8"))["findings"]]
    assert rules == []


def test_workers_give_the_same_report(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from portkit.pipeline import analyze as pipeline
    from portkit.pipeline.analyze import AnalyzeOptions, analyze

    monkeypatch.setattr(pipeline, "_FILES_PER_WORKER", 1)  # workers even for a handful of files

    for index in range(4):
        (project / f"copy{index}.py").write_text(textwrap.dedent(META_LLAMA), encoding="utf-8")
    serial = analyze(AnalyzeOptions(paths=(project,), ruleset=RULES, jobs=1))
    parallel = analyze(AnalyzeOptions(paths=(project,), ruleset=RULES, jobs=2))
    assert serial.files == parallel.files and len(serial.findings) == 19
