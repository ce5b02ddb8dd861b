"""The layers of docs/architecture.md, as import-linter contracts in pyproject.toml: kept by the code, and
broken (the check fails) when a module imports upwards, a metric imports the feature path, or a front end
runs the pipeline beside the one features function.

import-linter reads the package from disk; the command line lives in `cli/` and is installed as
`gan_eval.cli`, so each check runs on a copy of the tree with `cli/` in its installed place, in a
subprocess whose import path starts at the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tree(tmp_path: Path) -> Path:
    """A copy of the package as installed: `gan_eval/` with `cli/` as `gan_eval/cli/`, and the contracts."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "gan_eval", tmp_path / "gan_eval", ignore=ignore)
    shutil.copytree(ROOT / "cli", tmp_path / "gan_eval" / "cli", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    command = [sys.executable, "-c", code, "--config", "pyproject.toml", "--no-cache"]
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_the_code_keeps_every_layer_contract(tmp_path: Path) -> None:
    result = _lint(_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("gan_eval/metrics/fid.py", "import gan_eval.cli.main", "Imports run downwards"),
        ("gan_eval/extractors/registry.py", "from gan_eval.paired.lpips import weights", "Imports run downwards"),
        ("gan_eval/metrics/prdc.py", "import gan_eval.features", "The metrics are pure"),
        ("gan_eval/diagnostics/modes.py", "from gan_eval.pipeline import iter_batches", "One door to features"),
    ],
    ids=["metric-imports-the-cli", "registry-imports-a-family", "metric-imports-the-feature-path", "pipeline-beside"],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    tree = _tree(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # added by the test\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout
    broken = result.stdout[result.stdout.index("Broken contracts") :]
    assert contract in broken and module.removesuffix(".py").replace("/", ".") in broken
