"""The web UI ships in the wheel: every file under ``web/`` is named by a data-files glob of
``pyproject.toml`` that installs it at the same relative place under ``share/cti/web`` (a new
folder of templates would otherwise be missing from ``pip install .`` and the Docker image),
and :func:`cti.resources.web_dir` finds the installed copy when there is no checkout."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from cti.resources import SOURCE_WEB, web_dir

ROOT = Path(__file__).resolve().parent.parent


def test_every_web_file_is_installed_at_its_place() -> None:
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"]
    files = [p for p in (ROOT / "web").rglob("*") if p.is_file()]
    assert len(files) > 40
    missing = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        targets = [target for target, globs in data_files.items()
                   if any(fnmatch.fnmatch(rel, g) and "/" not in rel[len(g.rsplit("/", 1)[0]) + 1:]
                          for g in globs)]
        expected = "share/cti/" + path.parent.relative_to(ROOT).as_posix()
        if targets != [expected]:
            missing.append((rel, targets))
    assert missing == []


def test_web_dir_prefers_the_checkout_then_the_installed_data(tmp_path: Path) -> None:
    assert web_dir() == SOURCE_WEB and (SOURCE_WEB / "templates" / "base.html").is_file()
    installed = tmp_path / "prefix" / "share" / "cti" / "web"
    (installed / "templates").mkdir(parents=True)
    nowhere = tmp_path / "no-checkout" / "web"
    assert web_dir(nowhere, str(tmp_path / "prefix")) == installed
    assert web_dir(SOURCE_WEB, str(tmp_path / "prefix")) == SOURCE_WEB
    assert web_dir(nowhere, str(tmp_path / "empty")) == nowhere  # the error names the checkout
