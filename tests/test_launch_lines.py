"""Launch files, the same care as Python (issue 14, item 8): the collective backend on launch lines,
a renamed variable renamed at every use in a script, Slurm export lists, CUDA base images.

tests/test_launchfiles.py covers the launch-file kind as a whole; this covers these four points
in the shapes real projects write them."""

from __future__ import annotations

import pytest

from portkit.filekinds.launch import migrate_launch_file
from portkit.ruleset import load_rules
from portkit.python.transform import CompiledRules

RULESET = load_rules()
RULES = CompiledRules(RULESET)
ACCELERATOR = CompiledRules(load_rules(target="accelerator"))


def migrate(text: str, name: str = "run.sh", rules: CompiledRules = RULES):
    return migrate_launch_file(text, name, rules, True)


def port(text: str, name: str = "run.sh", rules: CompiledRules = RULES) -> str:
    result = migrate(text, name, rules)
    again = migrate(result.new_text or text, name, rules)  # migrating the port changes nothing
    assert again.new_text is None and again.changes == ()
    return text if result.new_text is None else result.new_text


# --- 1. the collective backend on launch lines ----------------------------------------------------


@pytest.mark.parametrize(("script", "expected"), [
    ("torchrun --nproc_per_node 8 train.py --backend nccl\n", "torchrun --nproc_per_node 8 train.py --backend hccl\n"),
    ("python -m torch.distributed.launch --nproc_per_node=8 main.py --dist-backend nccl\n",
     "python -m torch.distributed.launch --nproc_per_node=8 main.py --dist-backend hccl\n"),
    ("python3 main.py --dist_backend=nccl --epochs 1\n", "python3 main.py --dist_backend=hccl --epochs 1\n"),
    ('deepspeed train.py --deepspeed_config ds.json --dist_backend "nccl"\n',
     'deepspeed train.py --deepspeed_config ds.json --dist_backend "hccl"\n'),
    ("accelerate launch --gpu_ids 0,1 train.py --backend nccl\n", "accelerate launch --gpu_ids 0,1 train.py --backend hccl\n"),
    ("torchrun --nproc_per_node 8 \\\n    train.py \\\n    --backend nccl\n",
     "torchrun --nproc_per_node 8 \\\n    train.py \\\n    --backend hccl\n"),
    ("srun --ntasks 8 python train.py --backend=nccl\n", "srun --ntasks 8 python train.py --backend=hccl\n"),
    ("mpirun -np 8 -x NCCL_DEBUG python train.py --backend nccl\n",
     "mpirun -np 8 -x HCCL_DEBUG python train.py --backend hccl\n"),
    ("CUDA_VISIBLE_DEVICES=0 nohup /opt/conda/bin/python train.py --backend 'nccl' &\n",
     "ASCEND_RT_VISIBLE_DEVICES=0 nohup /opt/conda/bin/python train.py --backend 'hccl' &\n"),
    ("bash -c 'torchrun train.py --backend nccl'\n", "bash -c 'torchrun train.py --backend hccl'\n"),
    ("python train.py --dist-backend cuda:nccl\n", "python train.py --dist-backend npu:hccl\n"),
    # Megatron-LM: the interpreter in a variable named for it
    ('"$PYTHON_BIN" -m torch.distributed.run pretrain.py --distributed-backend nccl\n',
     '"$PYTHON_BIN" -m torch.distributed.run pretrain.py --distributed-backend hccl\n'),
    ("${PYTHON} train.py --backend nccl\n", "${PYTHON} train.py --backend hccl\n"),
])
def test_backend_options_on_launch_lines(script, expected):
    assert port(script) == expected


@pytest.mark.parametrize(("dockerfile", "expected"), [
    ('FROM ubuntu:22.04\nCMD ["torchrun", "--nproc_per_node", "8", "train.py", "--backend", "nccl"]\n',
     'FROM ubuntu:22.04\nCMD ["torchrun", "--nproc_per_node", "8", "train.py", "--backend", "hccl"]\n'),
    ('FROM ubuntu:22.04\nENTRYPOINT ["python3", "main.py", "--dist-backend=nccl"]\n',
     'FROM ubuntu:22.04\nENTRYPOINT ["python3", "main.py", "--dist-backend=hccl"]\n'),
    ('FROM ubuntu:22.04\nRUN python train.py --dist_backend nccl\n', 'FROM ubuntu:22.04\nRUN python train.py --dist_backend hccl\n'),
    ('FROM ubuntu:22.04\nCMD ["echo", "--backend", "nccl"]\n', None),
])
def test_backend_options_in_dockerfiles(dockerfile, expected):
    assert port(dockerfile, "Dockerfile") == (expected or dockerfile)


@pytest.mark.parametrize(("script", "expected"), [
    # a bash array and a string of options, expanded on the launch line
    ("ARGS=(--backend nccl --epochs 3)\ntorchrun train.py \"${ARGS[@]}\"\n",
     "ARGS=(--backend hccl --epochs 3)\ntorchrun train.py \"${ARGS[@]}\"\n"),
    ('DIST_ARGS="--dist-backend nccl --dist-url tcp://${HOST}:23456"\npython main.py $DIST_ARGS\n',
     'DIST_ARGS="--dist-backend hccl --dist-url tcp://${HOST}:23456"\npython main.py $DIST_ARGS\n'),
    ("ARGS+=(--dist_backend=nccl)\ndeepspeed train.py ${ARGS[*]}\n", "ARGS+=(--dist_backend=hccl)\ndeepspeed train.py ${ARGS[*]}\n"),
    # a variable that is the value of a backend option
    ('BACKEND="nccl"\ntorchrun train.py --backend "$BACKEND"\n', 'BACKEND="hccl"\ntorchrun train.py --backend "$BACKEND"\n'),
    ("export DIST_BACKEND=nccl\npython a.py --dist_backend=${DIST_BACKEND}\n",
     "export DIST_BACKEND=hccl\npython a.py --dist_backend=${DIST_BACKEND}\n"),
])
def test_backend_options_held_in_variables(script, expected):
    assert port(script) == expected


@pytest.mark.parametrize("script", [
    "echo --backend nccl\n",  # not a launch line
    'grep -r -- "--backend nccl" logs/\n',
    "printf '%s\\n' --dist-backend nccl\n",
    "# torchrun train.py --backend nccl\n",  # a comment
    "python train.py --note 'use --backend nccl'\n",  # text inside another argument
    "torchrun --rdzv_backend c10d --rdzv-backend=c10d train.py --backend gloo\n",  # not nccl
    "deepspeed train.py --comm_backend_name nccl\n",  # DeepSpeed's own 1-bit path, as in Python
    "python train.py --backend nccl2\n",
    "ssh node1 'torchrun train.py --backend nccl'\n",  # runs elsewhere, as a string
    'ARGS="--backend nccl"\necho $ARGS\n',  # never reaches a launch line
    "BACKEND=nccl\ntorchrun train.py $BACKEND\n",  # not the value of a backend option
    'X="--backend nccl$SUFFIX"\npython a.py $X\n',  # not a plain value
    "NCCL_DEBUG_SUBSYS=ALL python a.py\n",
    "$TOOL check --backend nccl\n",  # a command in a variable not named for a launcher
])
def test_backend_elsewhere_is_untouched(script):
    result = migrate(script)
    assert result.new_text is None
    assert not [c for c in result.changes if c.rule_id == "nccl-backend"]


def test_backend_change_names_its_rule_and_how_it_was_found():
    result = migrate("DIST_ARGS='--dist-backend nccl'\nNCCL_DEBUG=INFO torchrun a.py $DIST_ARGS --backend nccl\n")
    assert [(c.rule_id, c.span.line, c.message.split(":")[0]) for c in result.changes] == [
        ("nccl-backend", 1, "--dist-backend nccl → hccl (in $DIST_ARGS, used on a launch line)"),
        ("env-var", 2, "NCCL_DEBUG → HCCL_DEBUG"),  # the variable is its own rule
        ("nccl-backend", 2, "--backend nccl → hccl"),
    ]


def test_backend_follows_the_python_rule_selection():
    """The launch line changes with the rule that changes the Python side, and only with it."""
    script = "NCCL_DEBUG=INFO torchrun a.py --backend nccl\n"
    only_env = CompiledRules(RULESET.select(["env-var"]))
    assert migrate(script, rules=only_env).new_text == "HCCL_DEBUG=INFO torchrun a.py --backend nccl\n"
    only_backend = CompiledRules(RULESET.select(["nccl-backend"]))
    assert migrate(script, rules=only_backend).new_text == "NCCL_DEBUG=INFO torchrun a.py --backend hccl\n"


def test_accelerator_target_reports_the_backend_instead_of_writing_one():
    """The accelerator target turns "nccl" into None in Python; a command line cannot pass None,
    and which backend the job needs depends on the host: a person decides (drop it or pass hccl)."""
    script = "ARGS=(--dist-backend nccl)\ntorchrun train.py --backend nccl \"${ARGS[@]}\"\necho --backend nccl\n"
    result = migrate(script, rules=ACCELERATOR)
    assert result.new_text is None and result.changes == ()
    assert [(f.rule_id, f.span.line) for f in result.findings] == [("accelerator-backend", 1), ("accelerator-backend", 2)]
    assert "backend=None" in result.findings[1].message and "drop the option" in result.findings[1].message


# --- 2. a renamed variable, renamed at every use --------------------------------------------------


def test_a_renamed_variable_is_renamed_at_every_use_in_the_script():
    script = (
        "export CUDA_VISIBLE_DEVICES=0,1\n"
        'echo "$CUDA_VISIBLE_DEVICES ${CUDA_VISIBLE_DEVICES:-0} ${#CUDA_VISIBLE_DEVICES}"\n'
        "read -r CUDA_VISIBLE_DEVICES < gpus.txt\n"
        "IFS=, read -ra CUDA_VISIBLE_DEVICES <<< \"$LIST\"\n"
        "read -t 5 -p 'cards? ' CUDA_VISIBLE_DEVICES\n"
        "for CUDA_VISIBLE_DEVICES in 0 1; do python a.py; done\n"
        "select CUDA_VISIBLE_DEVICES in 0 1; do break; done\n"
        "printf -v CUDA_VISIBLE_DEVICES '%s,%s' 0 1\n"
        "mapfile -t CUDA_VISIBLE_DEVICES < gpus.txt\n"
        "while getopts 'g:' CUDA_VISIBLE_DEVICES; do :; done\n"
        "[[ -v CUDA_VISIBLE_DEVICES ]] && test -v CUDA_VISIBLE_DEVICES && [ -v CUDA_VISIBLE_DEVICES ]\n"
        "f() { local CUDA_VISIBLE_DEVICES=$1; declare -x CUDA_VISIBLE_DEVICES; }\n"
        "env CUDA_VISIBLE_DEVICES=0 python x.py\n"
        "unset CUDA_VISIBLE_DEVICES\n"
    )
    ported = port(script)
    assert "CUDA_VISIBLE_DEVICES" not in ported
    assert ported.count("ASCEND_RT_VISIBLE_DEVICES") == script.count("CUDA_VISIBLE_DEVICES")
    # the words around the names stay as they were
    assert ported.replace("ASCEND_RT_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES") == script


@pytest.mark.parametrize("script", [
    "read -r -p CUDA_VISIBLE_DEVICES x\n",  # the prompt
    "read -d CUDA_VISIBLE_DEVICES x\n",  # the delimiter
    "printf CUDA_VISIBLE_DEVICES\n",  # the format
    "getopts CUDA_VISIBLE_DEVICES opt\n",  # the option string
    "[[ -n CUDA_VISIBLE_DEVICES ]]\n",
    "for i in CUDA_VISIBLE_DEVICES; do :; done\n",  # a loop value
    "mapfile -C CUDA_VISIBLE_DEVICES lines\n",  # the callback
])
def test_words_next_to_names_are_not_names(script):
    assert migrate(script).new_text is None


def test_literal_text_stays_and_is_reported_when_the_script_renames_the_name():
    """'...' and quoted here-documents are literal: portkit never edits them, but where this script
    renames the variable, a `$NAME` in them (run later by ssh, eval or a generated script) is
    pointed out. Printed text (echo) and scripts that rename nothing stay quiet."""
    script = (
        "export CUDA_VISIBLE_DEVICES=0\n"
        "ssh node1 'echo $CUDA_VISIBLE_DEVICES'\n"
        "cat <<'EOF' > job.sh\npython a.py --gpus ${CUDA_VISIBLE_DEVICES}\nEOF\n"
        "echo 'set $CUDA_VISIBLE_DEVICES first'\n"
        "ssh node1 'echo $NCCL_DEBUG'\n"  # NCCL_DEBUG is not renamed in this script
    )
    result = migrate(script)
    assert result.new_text == script.replace("export CUDA_VISIBLE_DEVICES", "export ASCEND_RT_VISIBLE_DEVICES")
    assert [(f.rule_id, f.span.line) for f in result.findings] == [("env-var", 2), ("env-var", 4)]
    assert result.findings[0].message.startswith("CUDA_VISIBLE_DEVICES is ASCEND_RT_VISIBLE_DEVICES elsewhere")
    # and the same on the ported script: `check` keeps the items
    again = migrate(result.new_text)
    assert again.new_text is None and [f.span.line for f in again.findings] == [2, 4]


def test_literal_text_in_a_script_that_renames_nothing_is_quiet():
    assert migrate("ssh node1 'echo $CUDA_VISIBLE_DEVICES'\n") == migrate("")


# --- 3. Slurm (and PBS) export lists --------------------------------------------------------------


@pytest.mark.parametrize(("script", "expected"), [
    ("srun --export=ALL,CUDA_VISIBLE_DEVICES=0 python train.py\n",
     "srun --export=ALL,ASCEND_RT_VISIBLE_DEVICES=0 python train.py\n"),
    ("srun --export CUDA_VISIBLE_DEVICES=0,NCCL_DEBUG python train.py\n",
     "srun --export ASCEND_RT_VISIBLE_DEVICES=0,HCCL_DEBUG python train.py\n"),
    ('sbatch --export="NONE,CUDA_VISIBLE_DEVICES=0" job.sh\n', 'sbatch --export="NONE,ASCEND_RT_VISIBLE_DEVICES=0" job.sh\n'),
    ("salloc --export=ALL,PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True\n",
     "salloc --export=ALL,PYTORCH_NPU_ALLOC_CONF=expandable_segments:True\n"),
    ("#!/bin/bash\n#SBATCH --export=ALL,CUDA_VISIBLE_DEVICES=0\n#SBATCH --export NCCL_DEBUG=INFO\n",
     "#!/bin/bash\n#SBATCH --export=ALL,ASCEND_RT_VISIBLE_DEVICES=0\n#SBATCH --export HCCL_DEBUG=INFO\n"),
    ("#PBS -v CUDA_VISIBLE_DEVICES=0,NCCL_DEBUG=INFO\n", "#PBS -v ASCEND_RT_VISIBLE_DEVICES=0,HCCL_DEBUG=INFO\n"),
])
def test_export_lists_rename_the_names_in_them(script, expected):
    assert port(script) == expected


@pytest.mark.parametrize("script", [
    "# srun --export=ALL,CUDA_VISIBLE_DEVICES=0 python a.py\n",  # a comment, not a directive
    "  # SBATCH --export=CUDA_VISIBLE_DEVICES=0\n",
    "echo --export=CUDA_VISIBLE_DEVICES=0\n",
    "srun --export=ALL python a.py --export=CUDA_VISIBLE_DEVICES\n",  # the script's own option
])
def test_export_lists_elsewhere_are_untouched(script):
    assert migrate(script).new_text is None


def test_unknown_names_in_export_lists_are_reported():
    result = migrate("#SBATCH --export=ALL,NCCL_IB_DISABLE=1\n")
    assert result.new_text is None
    assert [f.message.split(" ")[0] for f in result.findings] == ["NCCL_IB_DISABLE"]


# --- 4. CUDA base images in Dockerfiles -----------------------------------------------------------


@pytest.mark.parametrize(("dockerfile", "reported"), [
    ("FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04\n", "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"),
    ("FROM docker.io/nvidia/cuda:11.8.0-base-ubuntu22.04 AS base\n", "docker.io/nvidia/cuda:11.8.0-base-ubuntu22.04"),
    ("FROM nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04\n", "nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04"),
    ("FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime\n", "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime"),
    ("FROM nvcr.io/nvidia/pytorch:23.10-py3\n", "nvcr.io/nvidia/pytorch:23.10-py3"),
    ("from --platform=$BUILDPLATFORM nvidia/cuda:12.1.0-base-ubuntu22.04 as build\n", "nvidia/cuda:12.1.0-base-ubuntu22.04"),
    ('ARG BASE_IMAGE="nvidia/cuda:12.1.0-devel-ubuntu22.04"\nFROM $BASE_IMAGE\n', "nvidia/cuda:12.1.0-devel-ubuntu22.04"),
    ("ARG TAG=12.1.0\nFROM nvidia/cuda:${TAG:-11.8.0}-devel\n", "nvidia/cuda:12.1.0-devel"),
    ("FROM nvidia/cuda:${TAG:-11.8.0}-devel\n", "nvidia/cuda:11.8.0-devel"),  # the default in the reference
])
def test_cuda_base_images_are_reported_with_the_ascend_image(dockerfile, reported):
    result = migrate(dockerfile, "Dockerfile")
    assert result.new_text is None  # reported, never rewritten: the tag is a person's choice
    assert [f.rule_id for f in result.findings if f.rule_id == "cuda-base-image"] == ["cuda-base-image"]
    message = next(f.message for f in result.findings if f.rule_id == "cuda-base-image")
    assert message.startswith(f"FROM {reported}")
    assert "quay.io/ascend/cann" in message and "ascendai/cann" in message


@pytest.mark.parametrize("dockerfile", [
    "FROM python:3.11-slim\n",
    "FROM ubuntu:22.04\n",
    "FROM quay.io/ascend/cann:8.1.rc1-910b-ubuntu22.04-py3.10\n",  # already Ascend's
    "FROM nvidia/cuda-like:1.0\n",
    "ARG BASE\nFROM $BASE\n",  # chosen at build time
    "FROM ubuntu:22.04\nARG BASE=nvidia/cuda:12.1.0-base-ubuntu22.04\nFROM $BASE\n",  # a stage's ARG: not for FROM
    "# FROM nvidia/cuda:12.1.0-base-ubuntu22.04\nFROM ubuntu:22.04\n",
    'FROM ubuntu:22.04\nLABEL base="nvidia/cuda:12.1.0"\nRUN echo nvidia/cuda\n',
])
def test_other_base_images_are_not_reported(dockerfile):
    assert not [f for f in migrate(dockerfile, "Dockerfile").findings if f.rule_id == "cuda-base-image"]


def test_pytorch_images_are_reported_only_for_their_cuda_builds():
    # `pytorch/pytorch:latest` names no CUDA version: not reported (an honest miss, see rules/launch.toml)
    assert migrate("FROM pytorch/pytorch:latest\n", "Dockerfile").findings == ()
