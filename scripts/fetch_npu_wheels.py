"""Download the torch-npu wheels that src/portkit/ruleset/data was derived from, for the tests.

The tests re-derive each shipped name list from its real wheel (tests themselves never
fetch anything); this is the step of the README's test command that fetches them. Wheels
already in the cache are not downloaded again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "portkit" / "wheels"


def main() -> int:
    CACHE.mkdir(parents=True, exist_ok=True)
    for data in sorted((REPO / "src" / "portkit" / "ruleset" / "data").glob("torch_npu-*.json")):
        version = data.stem.removeprefix("torch_npu-")
        if any(CACHE.glob(f"torch_npu-{version}-*.whl")):
            continue
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"torch-npu=={version}",
                   "-d", str(CACHE)]
        if subprocess.run(command).returncode != 0:
            print(f"fetch_npu_wheels: could not download torch-npu=={version}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
