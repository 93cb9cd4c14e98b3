"""Where cti's non-Python files are: the web UI (templates, static files, mail templates).

Why two places: in a source checkout (``make demo``, ``pip install -e``) they are the
top-level ``web/`` folder beside the package, edited in place; a wheel (``pip install .``, the
Docker image) carries them as data files installed under ``<prefix>/share/cti/web`` (see
``[tool.setuptools.data-files]`` in ``pyproject.toml``), since ``web/`` is not a Python package.
The checkout wins when both exist, so a developer's edits are what they see.
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_WEB = Path(__file__).resolve().parent.parent / "web"


def web_dir(source: Path = SOURCE_WEB, prefix: str = sys.prefix) -> Path:
    """The ``web`` folder: the source checkout's, else the installed data files'. When neither
    exists the checkout's path is returned, so the error names the place people look first."""
    if (source / "templates").is_dir():
        return source
    installed = Path(prefix) / "share" / "cti" / "web"
    return installed if (installed / "templates").is_dir() else source
