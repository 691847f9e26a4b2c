"""The review page's script passes ESLint's recommended rules (eslint.config.js, ESLint pinned in
package.json and installed by `npm ci`, which the README's test command runs). A missing ESLint
fails the test, it is never skipped."""

from __future__ import annotations

import subprocess

from conftest import REPO

ESLINT = REPO / "node_modules" / ".bin" / "eslint"
ASSETS = REPO / "src" / "portkit" / "reports" / "review" / "assets"


def test_review_script_passes_eslint() -> None:
    assert ESLINT.exists(), (
        f"no ESLint at {ESLINT}: run `npm ci` in the repository root (the README's test command does)")
    assert list(ASSETS.glob("*.js")), f"no script in {ASSETS}"
    # --max-warnings 0: a warning fails too, and so does a file the config leaves unlinted
    run = subprocess.run([str(ESLINT), "--max-warnings", "0", str(ASSETS)], cwd=REPO,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, f"eslint exited {run.returncode}:\n{run.stdout}{run.stderr}"
