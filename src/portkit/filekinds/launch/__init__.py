"""Launch files: shell scripts, .env files, Dockerfiles, and launcher / CI configs in YAML or JSON.

What changes: environment variable *names*, renamed by every replace-string rule whose
`contexts.launch_files` is true (the env-var rule: CUDA_VISIBLE_DEVICES -> ASCEND_RT_VISIBLE_DEVICES,
NCCL_SOCKET_IFNAME -> HCCL_SOCKET_IFNAME, ...), at every use in a script; and the collective
backend passed on launch lines (`torchrun train.py --backend nccl`, or a variable that holds the
options), by the rule that converts the Python side's backend (a replace-string rule with
`flow = "backend"`, whose `names` also match the option). What is reported: names matching such
a rule's `report_pattern` that have no twin, device lists that are not strictly ascending (Ascend
needs ascending ids in ASCEND_RT_VISIBLE_DEVICES), a backend the rule cannot write on a command
line (the accelerator target's None), `$NAME` in literal text where the script renames NAME,
commands listed by report-command rules (`nvidia-smi` -> `npu-smi info`) and their CUDA base
images in Dockerfile FROM lines.

Nothing is ever re-serialised: every edit replaces the exact characters of one name, so
comments, quoting, indentation and line endings stay as they were. A name is only renamed
where it *is* a variable name:

- shell (and Dockerfile RUN/CMD/ENTRYPOINT, CI `run:`/`script:` steps): a small tokenizer that
  knows comments, quotes, `$(...)`, backticks and here-documents. Renamed are assignments
  (`NAME=v cmd`, `export NAME=v`, `env NAME=v`, `declare -x`, `unset NAME`, `docker run -e NAME`,
  `mpirun -x NAME`, `srun --export=ALL,NAME=v`, `#SBATCH --export=...`), names a command binds or
  tests (`read NAME`, `for NAME in`, `printf -v NAME`, `mapfile NAME`, `getopts s NAME`, `[[ -v NAME ]]`)
  and references (`$NAME`, `${NAME:-x}`), the latter also inside "...".
  Nothing inside '...', comments, here-document text or other words (MY_CUDA_VISIBLE_DEVICES).
- .env files: `NAME=value` lines, and references in values.
- Dockerfiles: ENV / ARG names, `$NAME` references in any instruction, RUN/CMD/ENTRYPOINT as shell.
- YAML (PyYAML node marks) and JSON (a position-keeping scanner that also accepts JSONC):
  keys of `env`/`environment`/`variables`/`env_vars` mappings, `name:` entries of k8s env lists,
  `NAME=value` items of docker-compose lists, and shell in `run`/`script`/`command`/`args` values.

The modules, by format: common (the rules that apply, what a scan collects, edits -> Migration),
shell_words and shell (the tokenizer: words, then command lines), launchline (what a word means on
a launch line, Slurm export lists), envfile, dockerfile, and
structured (YAML and JSON by node position). This module picks the format and is the file kind.
"""

from __future__ import annotations

from pathlib import PurePath

from portkit.model import Migration, MigrationError
from portkit.python.compiled import CompiledRules
from portkit.filekinds.launch.common import (
    GPU_IDS,
    VISIBLE_DEVICES,
    Collector,
    Edit,
    LaunchRules,
    LineIndex,
    Note,
    apply_edits,
    launch_rules,
    to_migration,
)
from portkit.filekinds.launch.dockerfile import scan_dockerfile
from portkit.filekinds.launch.envfile import scan_dotenv
from portkit.filekinds.launch.shell import ShellScanner, scan_shell
from portkit.filekinds.launch.shell_words import Word
from portkit.filekinds.launch.structured import (
    ConfigWalker,
    JsonScanner,
    Node,
    json_may_matter,
    parse_json,
    scan_string,
    string_locator,
    yaml_documents,
)


# --- the file kind -------------------------------------------------------------------------------


def file_type(name: str) -> str:
    path = PurePath(name)
    lower = path.name.lower()
    if lower.endswith((".sh", ".bash", ".zsh", ".ksh", ".slurm", ".sbatch")):
        return "shell"
    if lower == ".env" or lower.endswith(".env") or lower == ".deepspeed_env":  # DeepSpeed: NAME=VALUE lines
        return "dotenv"
    if lower == "dockerfile" or lower.startswith("dockerfile.") or lower.endswith(".dockerfile"):
        return "dockerfile"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    if lower.endswith(".json"):
        return "json"
    return "shell"


def collect(text: str, name: str, rules: LaunchRules) -> Collector:
    c = Collector(rules)
    kind = file_type(name)
    if kind == "shell":
        scan_shell(text, c)
    elif kind == "dotenv":
        scan_dotenv(text, c)
    elif kind == "dockerfile":
        scan_dockerfile(text, c)
    elif kind == "json":
        if json_may_matter(text):
            ConfigWalker(text, c).walk_documents([parse_json(text)])
    else:
        ConfigWalker(text, c).walk_documents(yaml_documents(text))
    c.settle()
    return c


def migrate_launch_file(text: str, name: str, rules: CompiledRules, render: bool) -> Migration:
    """The launch-file kind (filekinds.py): same contract as engine.migrate_source."""
    index = launch_rules(rules)
    if not index.may_need_work(text):
        return Migration(None, (), ())
    c = collect(text, name, index)
    migration = to_migration(text, c, render)
    if migration.new_text is not None:
        again = collect(migration.new_text, name, index)
        if again.edits:
            first = next(iter(again.edits.values()))
            raise MigrationError(f"rewrite is not stable: rule {first.rule.id} would change it again (please report)")
    return migration


# what other modules (notebooks) and tests use from here
__all__ = [
    "GPU_IDS",
    "VISIBLE_DEVICES",
    "Collector",
    "ConfigWalker",
    "Edit",
    "JsonScanner",
    "LaunchRules",
    "LineIndex",
    "Node",
    "Note",
    "ShellScanner",
    "Word",
    "apply_edits",
    "collect",
    "file_type",
    "launch_rules",
    "migrate_launch_file",
    "parse_json",
    "scan_dockerfile",
    "scan_dotenv",
    "scan_shell",
    "scan_string",
    "string_locator",
    "to_migration",
]
