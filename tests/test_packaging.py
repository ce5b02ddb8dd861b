"""The wheel ships every package of the source tree (a package left out of pyproject.toml imports only in place)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gan_eval").rglob("__init__.py")}
    folders |= {f"gan_eval.{name}" for name, folder in (("cli", "cli"), ("reference_stats", "reference_stats"))}
    assert folders <= listed, sorted(folders - listed)
    for package, folder in config["package-dir"].items():
        assert (ROOT / folder / "__init__.py").is_file(), package
