"""Launch files: shell scripts, .env, Dockerfiles, YAML/JSON launcher, k8s and CI configs.

The fixtures in tests/data/launch/original are realistic files; tests/data/launch/ported holds
their reviewed ports (a file missing there must come back unchanged, byte for byte).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import assert_matches_golden, invoke_cli, write
from portkit.model import MigrationError
from portkit.filekinds.launch import migrate_launch_file
from portkit.ruleset import load_rules
from portkit.python.transform import CompiledRules

DATA = Path(__file__).resolve().parent / "data" / "launch"
ORIGINALS = sorted((DATA / "original").iterdir())
RULESET = load_rules()
RULES = CompiledRules(RULESET)


def migrate(text: str, name: str = "run.sh", rules: CompiledRules = RULES, render: bool = True):
    return migrate_launch_file(text, name, rules, render)


def port(text: str, name: str = "run.sh") -> str:
    """The migrated text (the input itself when nothing changed)."""
    result = migrate(text, name)
    return text if result.new_text is None else result.new_text


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def brief(result) -> list[tuple[str, int, str]]:
    """Findings as (rule, line, start of message) for exact comparisons."""
    return [(f.rule_id, f.span.line, f.message.split(":")[0]) for f in result.findings]


# --- the fixtures: golden output, byte identity, idempotency -------------------------------------


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_fixture_ports_to_its_golden_file(original):
    assert_matches_golden(migrate(read(original), original.name).new_text, original)


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_second_run_changes_nothing(original):
    golden = DATA / "ported" / original.name
    ported = read(golden) if golden.exists() else read(original)
    again = migrate(ported, original.name)
    assert again.new_text is None and again.changes == ()


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_comments_and_prose_are_untouched(original):
    """Every line that is a comment, or that names a variable only in prose, stays as it was."""
    golden = DATA / "ported" / original.name
    if not golden.exists():
        return
    before, after = read(original).splitlines(), read(golden).splitlines()
    assert len(before) == len(after)  # renames never add or remove lines
    for old, new in zip(before, after):
        stripped = old.strip()
        if stripped.startswith(("#SBATCH", "#PBS")):  # scheduler directives: options, not comments
            continue
        if stripped.startswith(("#", "//")) or "is set by" in old or "is managed by" in old:
            assert new == old


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_check_mode_reports_the_same_changes_without_rendering(original):
    rendered = migrate(read(original), original.name)
    checked = migrate(read(original), original.name, render=False)
    assert checked.new_text is None
    assert checked.changes == rendered.changes and checked.findings == rendered.findings


def test_torchrun_script():
    result = migrate(read(DATA / "original" / "train_torchrun.sh"), "train_torchrun.sh")
    assert [(c.span.line, c.message) for c in result.changes] == [
        (6, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),
        (7, "PYTORCH_CUDA_ALLOC_CONF → PYTORCH_NPU_ALLOC_CONF"),
        (8, "NCCL_DEBUG → HCCL_DEBUG"),
        (12, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),  # ${...} inside "..."
        (14, "CUDA_LAUNCH_BLOCKING → ASCEND_LAUNCH_BLOCKING"),
        (19, "NCCL_SOCKET_IFNAME → HCCL_SOCKET_IFNAME"),  # NAME=value cmd
        (24, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),
        (24, "CUDA_LAUNCH_BLOCKING → ASCEND_LAUNCH_BLOCKING"),
        (25, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),  # env NAME=value
        (27, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),  # $ref in an unquoted here-document
        (29, "CUDA_LAUNCH_BLOCKING → ASCEND_LAUNCH_BLOCKING"),  # unset
    ]
    assert {c.rule_id for c in result.changes} == {"env-var"}
    assert brief(result) == [
        ("env-var", 8, "NCCL_IB_DISABLE has no Ascend twin that portkit knows"),
        ("nvidia-smi", 11, "nvidia-smi does not exist on Ascend hosts"),
        ("nvidia-smi", 18, "nvidia-smi does not exist on Ascend hosts"),  # inside $( ... )
        ("env-var", 24, "CUDA_VISIBLE_DEVICES=3,2"),  # not ascending
        ("env-var", 27, "CUDA_VISIBLE_DEVICES is written here as text, which portkit does not change"),
    ]
    devices = result.findings[3]
    assert "strictly ascending order (2,3)" in devices.message
    assert devices.line_text == "CUDA_VISIBLE_DEVICES=3,2 CUDA_LAUNCH_BLOCKING=1 python train.py --epochs 1"
    change = result.changes[0]
    assert (change.span.column, change.span.end_column) == (8, 28)
    assert (change.old_text, change.new_text) == ("export CUDA_VISIBLE_DEVICES=0,1,2,3",
                                                  "export ASCEND_RT_VISIBLE_DEVICES=0,1,2,3")


def test_dockerfile():
    result = migrate(read(DATA / "original" / "Dockerfile"), "Dockerfile")
    assert [(c.span.line, c.message) for c in result.changes] == [
        (7, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),  # ENV a=b continued
        (8, "NCCL_DEBUG → HCCL_DEBUG"),
        (10, "PYTORCH_CUDA_ALLOC_CONF → PYTORCH_NPU_ALLOC_CONF"),  # legacy ENV NAME value
    ]
    assert brief(result) == [
        ("env-var", 3, "CUDA_VERSION has no Ascend twin that portkit knows"),  # ARG
        ("cuda-base-image", 4, "FROM nvidia/cuda"),  # the base image, with the ARG's default
        ("env-var", 4, "CUDA_VERSION has no Ascend twin that portkit knows"),  # ${...} in FROM
        ("nvidia-smi", 18, "nvidia-smi does not exist on Ascend hosts"),  # RUN, after a comment line
    ]
    image = result.findings[1].message
    assert image.startswith("FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04 "
                            "(`nvidia/cuda:${CUDA_VERSION}-cudnn8-devel-ubuntu22.04` with the default of ARG CUDA_VERSION)")
    assert "quay.io/ascend/cann" in image


def test_dotenv_file():
    result = migrate(read(DATA / "original" / ".env"), ".env")
    assert [c.span.line for c in result.changes] == [2, 3, 5]
    assert brief(result) == [
        ("env-var", 2, "CUDA_VISIBLE_DEVICES=1,0"),
        ("env-var", 4, "NCCL_P2P_DISABLE has no Ascend twin that portkit knows"),
    ]


def test_kubernetes_job():
    result = migrate(read(DATA / "original" / "train-job.yaml"), "train-job.yaml")
    assert [(c.span.line, c.span.column, c.message) for c in result.changes] == [
        (21, 21, "NCCL_SOCKET_IFNAME → HCCL_SOCKET_IFNAME"),
        (23, 22, "PYTORCH_CUDA_ALLOC_CONF → PYTORCH_NPU_ALLOC_CONF"),  # a quoted name
        (27, 21, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),
    ]
    assert brief(result) == [
        ("nvidia-smi", 18, "nvidia-smi does not exist on Ascend hosts"),  # in a `|` block of args
        ("env-var", 25, "NCCL_IB_HCA has no Ascend twin that portkit knows"),
        ("env-var", 28, "CUDA_VISIBLE_DEVICES=4,5,6,7,0,1,2,3"),  # the `value:` next to the name
    ]


def test_github_workflow():
    result = migrate(read(DATA / "original" / "ci-gpu.yml"), "ci-gpu.yml")
    assert [c.span.line for c in result.changes] == [8, 9, 15, 22, 23]
    assert brief(result) == [
        ("nvidia-smi", 19, "nvidia-smi does not exist on Ascend hosts"),
        ("cuda-tools", 27, "Nsight Systems cannot profile NPUs"),  # in a folded `>-` scalar
    ]


def test_vscode_launch_json_with_comments_and_trailing_commas():
    result = migrate(read(DATA / "original" / "launch.json"), "launch.json")
    assert [(c.span.line, c.span.column, c.message) for c in result.changes] == [
        (13, 18, "CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),
        (14, 18, "NCCL_DEBUG → HCCL_DEBUG"),
    ]
    assert result.findings == ()


@pytest.mark.parametrize("name", ["accelerate_config.yaml", "ds_config.json"])
def test_configs_without_environment_variables_are_left_alone(name):
    result = migrate(read(DATA / "original" / name), name)
    assert result == migrate("", name)  # nothing at all: no change, no finding


# --- shell: only whole names in variable positions ------------------------------------------------


@pytest.mark.parametrize("script", [
    "echo 'export CUDA_VISIBLE_DEVICES=1'\n",  # single-quoted prose
    "echo \"CUDA_VISIBLE_DEVICES is set\"\n",  # double-quoted prose
    "# export CUDA_VISIBLE_DEVICES=1\n",  # a comment
    "ls # CUDA_VISIBLE_DEVICES=1\n",
    "MY_CUDA_VISIBLE_DEVICES_NOTE=1\n",  # part of another name
    "echo $MY_CUDA_VISIBLE_DEVICES\n",
    "python train.py --env CUDA_VISIBLE_DEVICES\n",  # an argument, not an assignment
    "echo CUDA_VISIBLE_DEVICES=1\n",  # an argument that looks like one
    "cat <<'EOF'\nexport X=$CUDA_LAUNCH_BLOCKING\nEOF\n",  # quoted here-document: no expansion
    "echo \\$CUDA_VISIBLE_DEVICES\n",  # escaped
    "echo a#CUDA_VISIBLE_DEVICES=1\n",
])
def test_shell_prose_and_other_words_are_untouched(script):
    assert migrate(script).new_text is None


@pytest.mark.parametrize(("script", "expected"), [
    ("export CUDA_VISIBLE_DEVICES\n", "export ASCEND_RT_VISIBLE_DEVICES\n"),
    ("declare -x CUDA_VISIBLE_DEVICES=0\n", "declare -x ASCEND_RT_VISIBLE_DEVICES=0\n"),
    ("readonly CUDA_LAUNCH_BLOCKING=1\n", "readonly ASCEND_LAUNCH_BLOCKING=1\n"),
    ("unset -v CUDA_VISIBLE_DEVICES NCCL_DEBUG\n", "unset -v ASCEND_RT_VISIBLE_DEVICES HCCL_DEBUG\n"),
    ("printenv CUDA_VISIBLE_DEVICES\n", "printenv ASCEND_RT_VISIBLE_DEVICES\n"),
    ("env -u CUDA_VISIBLE_DEVICES python a.py\n", "env -u ASCEND_RT_VISIBLE_DEVICES python a.py\n"),
    ("sudo -E env NCCL_DEBUG=INFO python a.py\n", "sudo -E env HCCL_DEBUG=INFO python a.py\n"),
    ("sudo NCCL_DEBUG=INFO python a.py\n", "sudo HCCL_DEBUG=INFO python a.py\n"),
    ("CUDA_VISIBLE_DEVICES+=,2\n", "ASCEND_RT_VISIBLE_DEVICES+=,2\n"),
    ('echo "${#CUDA_VISIBLE_DEVICES} ${CUDA_VISIBLE_DEVICES%%,*}"\n',
     'echo "${#ASCEND_RT_VISIBLE_DEVICES} ${ASCEND_RT_VISIBLE_DEVICES%%,*}"\n'),
    ('X=${NCCL_DEBUG:-$CUDA_LAUNCH_BLOCKING}\n', 'X=${HCCL_DEBUG:-$ASCEND_LAUNCH_BLOCKING}\n'),
    ("n=$(echo $CUDA_VISIBLE_DEVICES | tr , ' ' | wc -w)\n",
     "n=$(echo $ASCEND_RT_VISIBLE_DEVICES | tr , ' ' | wc -w)\n"),
    ("n=`echo $CUDA_VISIBLE_DEVICES`\n", "n=`echo $ASCEND_RT_VISIBLE_DEVICES`\n"),
    ("docker run -e CUDA_VISIBLE_DEVICES=0 --env=NCCL_DEBUG img\n",
     "docker run -e ASCEND_RT_VISIBLE_DEVICES=0 --env=HCCL_DEBUG img\n"),
    ("mpirun -np 8 -x NCCL_DEBUG=INFO -x CUDA_VISIBLE_DEVICES python a.py\n",
     "mpirun -np 8 -x HCCL_DEBUG=INFO -x ASCEND_RT_VISIBLE_DEVICES python a.py\n"),
    ("bash -c 'CUDA_VISIBLE_DEVICES=0 python a.py'\n", "bash -c 'ASCEND_RT_VISIBLE_DEVICES=0 python a.py'\n"),
    ("if true; then CUDA_VISIBLE_DEVICES=0 python a.py; fi\n",
     "if true; then ASCEND_RT_VISIBLE_DEVICES=0 python a.py; fi\n"),
    ("for i in 0 1; do CUDA_VISIBLE_DEVICES=$i python a.py & done\n",
     "for i in 0 1; do ASCEND_RT_VISIBLE_DEVICES=$i python a.py & done\n"),
    ("GPUS=(0 1)\nCUDA_VISIBLE_DEVICES=${GPUS[0]} python a.py\n",
     "GPUS=(0 1)\nASCEND_RT_VISIBLE_DEVICES=${GPUS[0]} python a.py\n"),
    ("cat <<-EOF\n\tvisible: $CUDA_VISIBLE_DEVICES\n\tEOF\n", "cat <<-EOF\n\tvisible: $ASCEND_RT_VISIBLE_DEVICES\n\tEOF\n"),
])
def test_shell_variable_positions_are_renamed(script, expected):
    assert port(script) == expected


def test_crlf_line_endings_survive():
    script = "export CUDA_VISIBLE_DEVICES=0\r\n# CUDA_VISIBLE_DEVICES\r\nnvidia-smi\r\n"
    result = migrate(script)
    assert result.new_text == "export ASCEND_RT_VISIBLE_DEVICES=0\r\n# CUDA_VISIBLE_DEVICES\r\nnvidia-smi\r\n"
    assert result.changes[0].old_text == "export CUDA_VISIBLE_DEVICES=0"
    assert brief(result) == [("nvidia-smi", 3, "nvidia-smi does not exist on Ascend hosts")]


@pytest.mark.parametrize(("script", "lines"), [
    ("nvidia-smi\n", [1]),
    ("/usr/bin/nvidia-smi -L\n", [1]),
    ("watch -n 1 nvidia-smi\n", [1]),
    ("sudo -u ci timeout 10 nvidia-smi\n", [1]),
    ("nvidia-smi || true; nvcc --version && nsys profile python a.py\n", [1, 1, 1]),
    ("python a.py | tee log\\\n  && nvidia-smi\n", [2]),
    ("x=$(nvidia-smi -L)\n", [1]),
    ("echo nvidia-smi\n", []),  # an argument
    ("python nvidia-smi.py\n", []),
    ("# nvidia-smi\n", []),
    ("cat <<EOF\nnvidia-smi\nEOF\n", []),  # here-document text
])
def test_commands_are_reported_in_command_positions_only(script, lines):
    assert [f.span.line for f in migrate(script).findings] == lines


@pytest.mark.parametrize(("script", "reported"), [
    ("CUDA_VISIBLE_DEVICES=1,0 python a.py\n", True),
    ("export CUDA_VISIBLE_DEVICES='2,2'\n", True),  # not strictly ascending
    ("ASCEND_RT_VISIBLE_DEVICES=3,1 python a.py\n", True),  # already ported, still wrong
    ("docker run -e CUDA_VISIBLE_DEVICES=1,0 img\n", True),
    ("accelerate launch --gpu_ids 1,0 train.py\n", True),
    ("accelerate launch --gpu_ids=0,1 train.py\n", False),
    ("CUDA_VISIBLE_DEVICES=0,1,2,3 python a.py\n", False),
    ("CUDA_VISIBLE_DEVICES=$GPUS python a.py\n", False),  # not known here
    ("CUDA_VISIBLE_DEVICES= python a.py\n", False),
    ("echo CUDA_VISIBLE_DEVICES=1,0\n", False),  # prose
])
def test_device_ids_must_ascend(script, reported):
    found = [f for f in migrate(script).findings if "ascending" in f.message]
    assert bool(found) == reported
    assert all(f.rule_id == "env-var" for f in found)


def test_unknown_cuda_and_nccl_names_are_reported_not_renamed():
    result = migrate("export NCCL_IB_DISABLE=1 CUDA_HOME=/usr/local/cuda\necho $CUDA_HOME\n")
    assert result.new_text is None
    assert [(f.span.line, f.message.split(" ")[0]) for f in result.findings] == [
        (1, "NCCL_IB_DISABLE"), (1, "CUDA_HOME"), (2, "CUDA_HOME")]


def test_unbalanced_and_odd_shell_never_fails():
    for script in ['echo "unterminated $CUDA_VISIBLE_DEVICES\n', "echo 'open\n", "x=$(\n", "a=${b\n", "))(( `\n",
                   "cat <<\n", "echo $\n", "case $x in a) nvidia-smi;; esac\n", "f() { nvidia-smi; }\n"]:
        migrate(script)  # no exception


# --- YAML and JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    # flow mappings and sequences
    ("env: {CUDA_VISIBLE_DEVICES: '0', NCCL_DEBUG: INFO}\n", "env: {ASCEND_RT_VISIBLE_DEVICES: '0', HCCL_DEBUG: INFO}\n"),
    ("env: [{name: NCCL_DEBUG, value: INFO}]\n", "env: [{name: HCCL_DEBUG, value: INFO}]\n"),
    # docker compose: list of NAME=value, and a mapping
    ("services:\n  t:\n    environment:\n      - CUDA_VISIBLE_DEVICES=0\n      - NCCL_DEBUG\n",
     "services:\n  t:\n    environment:\n      - ASCEND_RT_VISIBLE_DEVICES=0\n      - HCCL_DEBUG\n"),
    ("services:\n  t:\n    environment:\n      CUDA_VISIBLE_DEVICES: \"0\"\n    command: nvidia-smi\n",
     "services:\n  t:\n    environment:\n      ASCEND_RT_VISIBLE_DEVICES: \"0\"\n    command: nvidia-smi\n"),
    # GitLab CI variables and script lists
    ("variables:\n  NCCL_DEBUG: INFO\ntest:\n  script:\n    - export CUDA_VISIBLE_DEVICES=0\n    - pytest\n",
     "variables:\n  HCCL_DEBUG: INFO\ntest:\n  script:\n    - export ASCEND_RT_VISIBLE_DEVICES=0\n    - pytest\n"),
    # anchors and aliases: the anchored mapping is edited once
    ("base: &env\n  NCCL_DEBUG: INFO\njob:\n  env: *env\nother:\n  env: *env\n",
     "base: &env\n  HCCL_DEBUG: INFO\njob:\n  env: *env\nother:\n  env: *env\n"),
    # several documents
    ("env: {NCCL_DEBUG: INFO}\n---\nenv: {NCCL_ALGO: Ring}\n", "env: {HCCL_DEBUG: INFO}\n---\nenv: {HCCL_ALGO: Ring}\n"),
])
def test_yaml_environments(text, expected):
    assert port(text, "config.yaml") == expected


@pytest.mark.parametrize("text", [
    "description: set CUDA_VISIBLE_DEVICES first\n",  # prose value
    "CUDA_VISIBLE_DEVICES: 0\n",  # a key, but not in an environment mapping
    "env: production\n",  # not a mapping
    "# env:\n#   CUDA_VISIBLE_DEVICES: 0\n",
    "labels:\n  cuda: 'true'\n",
    "gpu_ids: 1,0\n",  # not an accelerate config
])
def test_yaml_elsewhere_is_untouched(text):
    assert migrate(text, "config.yaml") == migrate("", "config.yaml")


def test_yaml_name_hidden_by_escapes_is_reported_for_a_person():
    text = 'env:\n  - NCCL_DEBUG=INFO\n  - "\\x43UDA_VISIBLE_DEVICES=0"\n'
    result = migrate(text, "compose.yaml")
    assert result.new_text == text.replace("NCCL_DEBUG", "HCCL_DEBUG")
    assert len(result.findings) == 1 and result.findings[0].span.line == 3
    assert result.findings[0].message.startswith("CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES: rename it by hand")


def test_accelerate_gpu_ids_must_ascend():
    text = "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\ngpu_ids: 1,0\n"
    result = migrate(text, "default_config.yaml")
    assert result.new_text is None
    assert brief(result) == [("env-var", 3, "gpu_ids 1,0")]
    assert "accelerate passes gpu_ids to ASCEND_RT_VISIBLE_DEVICES" in result.findings[0].message


def test_json_environments_keep_formatting():
    text = '{"env":{"CUDA_VISIBLE_DEVICES":"0"},\n "containers":[{"env":[{"name":"NCCL_DEBUG","value":"1"}],' \
           '"command":["sh","-c","nvidia-smi && NCCL_ALGO=Ring python a.py"]}]}'
    result = migrate(text, "pod.json")
    assert result.new_text == text.replace("CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES").replace(
        "NCCL_DEBUG", "HCCL_DEBUG").replace("NCCL_ALGO", "HCCL_ALGO")
    assert brief(result) == [("nvidia-smi", 2, "nvidia-smi does not exist on Ascend hosts")]


@pytest.mark.parametrize(("name", "text"), [
    ("broken.json", '{"env": {"CUDA_VISIBLE_DEVICES": "0",}'),
    ("broken.yaml", "env:\n  CUDA_VISIBLE_DEVICES: [0\n"),
])
def test_unparsable_config_that_names_a_variable_fails_the_file(name, text):
    with pytest.raises(MigrationError, match=r"not valid (JSON|YAML) at line \d+"):
        migrate(text, name)


@pytest.mark.parametrize(("name", "text"), [
    ("package.json", '{"name": "x", "scripts": {"build": "tsc"}}'),
    ("tsconfig.json", "{\n  // comments\n  \"compilerOptions\": {},\n}\n"),
    ("template.yaml", "{{ if .Values.gpu }}\nkind: Pod\n{{ end }}\n"),  # a Helm template: not YAML
    ("data.json", "not json at all"),
])
def test_unrelated_or_unparsable_files_without_names_are_left_alone(name, text):
    assert migrate(text, name) == migrate("", name)


# --- rules, selection, the pipeline ---------------------------------------------------------------


def test_only_selected_rules_apply():
    script = "export CUDA_VISIBLE_DEVICES=1,0\nnvidia-smi\n"
    only_commands = CompiledRules(RULESET.select(["nvidia-smi"]))
    result = migrate(script, rules=only_commands)
    assert result.new_text is None and [f.rule_id for f in result.findings] == ["nvidia-smi"]
    only_env = CompiledRules(RULESET.select(["env-var"]))
    result = migrate(script, rules=only_env)
    assert result.new_text is not None and [f.rule_id for f in result.findings] == ["env-var"]


def test_every_change_and_finding_names_its_rule_and_reason():
    for original in ORIGINALS:
        result = migrate(read(original), original.name)
        for item in (*result.changes, *result.findings):
            assert item.rule_id in RULESET.ids
            assert item.message and "\n" not in item.message


def test_migrate_a_project_folder(tmp_path):
    """The kind is registered: `portkit migrate` picks launch files up from folders."""
    for original in ORIGINALS:
        write(tmp_path / "proj" / original.name, original.read_bytes())
    write(tmp_path / "proj" / "notes.txt", "CUDA_VISIBLE_DEVICES=0\n")  # no kind: not looked at
    result = invoke_cli("migrate", "proj", "--allow-dirty", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    for original in ORIGINALS:
        golden = DATA / "ported" / original.name
        expected = golden if golden.exists() else original
        assert (tmp_path / "proj" / original.name).read_bytes() == expected.read_bytes(), original.name
    assert (tmp_path / "proj" / "notes.txt").read_text() == "CUDA_VISIBLE_DEVICES=0\n"
    assert "nvidia-smi" in result.output
