"""The layering rules of DESIGN.md, checked on the real import graph: imports point down only,
and each third-party adapter library is imported in exactly one place."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parent.parent / "cti"

LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (4, ("cti.cli", "cti.cli_clients", "cti.cli_speech", "cti.__main__")),
    (3, ("cti.webapp",)),
    (2, ("cti.bus", "cti.daemon", "cti.pipeline", "cti.rules", "cti.replay", "cti.clients",
         "cti.tickets", "cti.recordings", "cti.speech.worker", "cti.pbx", "cti.sim", "cti.demo",
         "cti.users", "cti.live", "cti.wrapups", "cti.survey")),
    (1, ("cti.ami.client", "cti.ami.reconnect", "cti.ami.recorder", "cti.ari", "cti.store",
         "cti.audio", "cti.pcm", "cti.mail", "cti.capture", "cti.speech.vosk_engine",
         "cti.speech.sphinx_engine", "cti.speech.engines")),
    (0, ("cti",)),  # everything else: pure
]

ONLY_IN = {
    "panoramisk": {"cti.ami.client"},
    "aiosqlite": {"cti.store.sqlite"},
    "vosk": {"cti.speech.vosk_engine"},
    "pocketsphinx": {"cti.speech.sphinx_engine"},
    "pydub": {"cti.audio"},
    "phonenumbers": {"cti.phone"},
}


def layer_of(module: str) -> int:
    for layer, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer
    raise AssertionError(module)


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_imports_point_down_only() -> None:
    bad = []
    for name, tree in modules().items():
        mine = layer_of(name)
        for imp in imports(tree):
            if imp.startswith("cti.") and layer_of(imp) > mine:
                bad.append(f"{name} (layer {mine}) imports {imp} (layer {layer_of(imp)})")
    assert bad == []


def test_adapter_libraries_are_imported_in_one_module_each() -> None:
    bad = []
    for name, tree in modules().items():
        for imp in imports(tree):
            top = imp.split(".")[0]
            if top in ONLY_IN and name not in ONLY_IN[top]:
                bad.append(f"{name} imports {top}")
    assert bad == []


def test_the_tracker_knows_nothing_of_io() -> None:
    forbidden = {"asyncio", "socket", "time", "aiosqlite", "panoramisk", "aiohttp", "os"}
    for name, tree in modules().items():
        if name.startswith("cti.calls"):
            assert imports(tree) & forbidden == set(), name
