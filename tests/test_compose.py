"""The deployment kit: docker-compose.asterisk.yml, the Dockerfile and the two entrypoints.

No Docker engine is needed (nor available in CI): the compose file is checked the way Docker
reads it, by the compose tool's own ``config`` (interpolation of ``.env``, the required
``${VAR:?…}`` secrets, the normalised services), with the v2 plugin (``docker compose``) when the
docker CLI has it, else Debian's ``docker-compose`` 1.29 (``scripts/system-deps.sh`` installs it).
Under CI a missing tool fails the test; elsewhere it is skipped. The Dockerfile is read
statically; its health check runs for real against cti's web app; the entrypoints run for real
(``sh``) with a temporary folder in place of ``/etc/asterisk`` and a temporary database.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cti.asterisk_conf import load
from cti.config import load_config
from cti.store.sqlite import Store
from cti.tickets import notify
from cti.users import UserService
from cti.webapp import keys
from tests.web_helpers import serve_app

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "docker-compose.asterisk.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKER_DIR = ROOT / "dialplan" / "docker"
#: What the compose file reads from .env; scrubbed from the tool's environment, so the values
#: come from the env file given, never from the shell running the tests.
COMPOSE_VARS = ("AMI_SECRET", "ARI_PASSWORD", "ADMIN_PASSWORD", "WEB_PORT",
                "CTI_WEB_SECURE_COOKIES", "CTI_WEB_METRICS_TOKEN")
SECRETS = {"AMI_SECRET": "ami-0123456789abcdef", "ARI_PASSWORD": "ari+0123456789/abcdef="}


# ------------------------------------------------------------------------------ the tool


def _compose_tool() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    tool = _compose_tool()
    if tool is None:
        why = "needs `docker compose` or `docker-compose` (scripts/system-deps.sh)"
        if os.environ.get("CI"):
            raise RuntimeError(f"the compose test {why}")  # CI must run it, never skip it
        pytest.skip(why)
    return tool


def _config(tool: list[str], env_file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARS}
    return subprocess.run([*tool, "--env-file", str(env_file), "-f", str(COMPOSE), "config"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)


def _env_file(tmp_path: Path, values: dict[str, str]) -> Path:
    path = tmp_path / "test.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def _normalised(tool: list[str], env_file: Path, tmp_path: Path) -> dict[str, Any]:
    done = _config(tool, env_file, tmp_path)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = yaml.safe_load(done.stdout)
    return doc


# v1 prints short forms ("127.0.0.1:5038:5038/tcp", "src:dst:ro"), v2 long ones (mappings).
def _ports(service: dict[str, Any]) -> list[tuple[str, str, int]]:
    out = []
    for p in service.get("ports", []):
        if isinstance(p, dict):
            out.append((p.get("host_ip", ""), str(p["published"]), int(p["target"])))
        else:
            ip, published, target = str(p).split("/")[0].rsplit(":", 2)
            out.append((ip, published, int(target)))
    return out


def _volumes(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target → (source, read_only)."""
    out = {}
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out[v["target"]] = (str(v["source"]), bool(v.get("read_only", False)))
        else:
            source, target, *mode = str(v).split(":")
            out[target] = (source, mode == ["ro"])
    return out


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        pending += raw.rstrip().removesuffix("\\") + " "
        if not raw.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            lines.append((word.upper(), re.sub(r"\s+", " ", rest.strip())))
            pending = ""
    return lines


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in _dockerfile():
        if word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    return env


# ------------------------------------------------------------------------ the compose file


def test_the_example_env_fills_every_secret_and_both_services_are_wired(
        compose: list[str], tmp_path: Path) -> None:
    example = _read_env(ENV_EXAMPLE)
    assert all("change-me" in example[k] for k in ("AMI_SECRET", "ARI_PASSWORD"))
    doc = _normalised(compose, ENV_EXAMPLE, tmp_path)
    services = doc["services"]
    assert set(services) == {"asterisk", "cti"}
    asterisk, app = services["asterisk"], services["cti"]
    # the secrets of .env reach both sides, the same on each
    assert asterisk["environment"]["AMI_SECRET"] == example["AMI_SECRET"]
    assert asterisk["environment"]["ARI_PASSWORD"] == example["ARI_PASSWORD"]
    assert app["environment"]["CTI_PBX_DEFAULT_AMI_SECRET"] == example["AMI_SECRET"]
    assert app["environment"]["CTI_PBX_DEFAULT_ARI_PASSWORD"] == example["ARI_PASSWORD"]
    assert app["environment"]["ADMIN_PASSWORD"] == example["ADMIN_PASSWORD"]
    assert _ports(app) == [("127.0.0.1", example["WEB_PORT"], 8080)]


def test_the_lab_as_compose_resolves_it(compose: list[str], tmp_path: Path) -> None:
    doc = _normalised(compose, _env_file(tmp_path, {**SECRETS, "WEB_PORT": "9090"}), tmp_path)
    asterisk, app = doc["services"]["asterisk"], doc["services"]["cti"]

    # a precise Asterisk 22 release, not a moving tag; cti built from this repository
    assert re.fullmatch(r"andrius/asterisk:22\.\d+\.\d+_debian-[a-z]+", asterisk["image"])
    assert Path(app["build"]["context"]) == ROOT
    assert app["build"].get("dockerfile", "Dockerfile") == "Dockerfile"

    # nothing published beyond this machine's loopback
    assert sorted(_ports(asterisk)) == [("127.0.0.1", "5038", 5038), ("127.0.0.1", "8088", 8088)]
    assert _ports(app) == [("127.0.0.1", "9090", 8080)]

    # health: Asterisk's CLI and manager user, cti's /healthz; cti waits for a healthy Asterisk
    assert asterisk["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "asterisk -rx 'manager show user cti'" in asterisk["healthcheck"]["test"][1]
    assert any("/healthz" in part for part in app["healthcheck"]["test"])
    assert app["depends_on"]["asterisk"]["condition"] == "service_healthy"

    # the recordings folder is one folder seen by both, and cti maps Asterisk's paths onto it
    a_vols, c_vols = _volumes(asterisk), _volumes(app)
    env = app["environment"]
    a_source, _ = a_vols[env["CTI_RECORDINGS_PBX_DIR"]]
    c_source, c_ro = c_vols[env["CTI_RECORDINGS_DIR"]]
    assert Path(a_source) == Path(c_source) == ROOT / "recordings" and not c_ro
    lab = load(DOCKER_DIR / "extensions.conf", [ROOT / "dialplan"])
    assert lab.values("globals", "CTI_RECDIR") == [env["CTI_RECORDINGS_PBX_DIR"]]

    # cti reaches Asterisk by its service name, over the network they share
    assert set(asterisk["networks"]) == set(app["networks"]) == {"cti-lab"}
    config = load_config(env={**_image_env(), **{k: str(v) for k, v in env.items()}})
    pbx = config.pbxes[0]
    assert (pbx.ami_host, pbx.ami_port, pbx.ami_user) == ("asterisk", 5038, "cti")
    assert (pbx.ami_secret, pbx.ari_password) == (SECRETS["AMI_SECRET"], SECRETS["ARI_PASSWORD"])
    ari = urlsplit(pbx.ari_url)
    assert (ari.hostname, ari.port, ari.path) == ("asterisk", 8088, "/ari")
    assert str(config.get("recordings.dir")) == env["CTI_RECORDINGS_DIR"]
    assert (config.get("web.host"), config.get("web.port")) == ("0.0.0.0", 8080)

    # the database sits in a named volume, where the image puts it
    assert c_vols[str(config.db_path.parent)][0] == "cti-data"
    assert "cti-data" in doc["volumes"]

    # the lab's files, the entrypoint and the survey's prompts, all read-only
    assert a_vols["/usr/local/share/cti/asterisk-entrypoint.sh"] == (
        str(DOCKER_DIR / "asterisk-entrypoint.sh"), True)
    assert asterisk["entrypoint"][-1] == "/usr/local/share/cti/asterisk-entrypoint.sh"
    command = asterisk["command"]  # the image's own CMD: Asterisk in the foreground
    assert command[0] == "/usr/sbin/asterisk" and re.fullmatch(r"-v*d*f", command[1])
    for lang in ("en", "fr"):
        assert a_vols[f"/var/lib/asterisk/sounds/{lang}/cti"] == (
            str(ROOT / "dialplan" / "sounds" / lang), True)
    etc = {t: s for t, (s, ro) in a_vols.items() if t.startswith("/etc/asterisk/") and ro}
    assert {Path(t).name for t in etc} >= {"manager.conf", "ari.conf", "manager_cti.conf",
                                           "ari_cti.conf", "extensions_cti.conf"}
    assert all(Path(s).is_file() for s in etc.values())


@pytest.mark.parametrize("missing", ["AMI_SECRET", "ARI_PASSWORD"])
def test_a_missing_secret_stops_compose_with_its_name(
        compose: list[str], tmp_path: Path, missing: str) -> None:
    values = {k: v for k, v in SECRETS.items() if k != missing}
    done = _config(compose, _env_file(tmp_path, values), tmp_path)
    assert done.returncode != 0
    assert f"{missing} is not set - cp .env.example .env" in done.stdout + done.stderr


def test_env_is_ignored_by_git_and_by_the_image() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0
    tracked = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT, check=False)
    assert tracked.returncode == 1
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines()
             if r.strip() and not r.startswith("#")]
    assert rules[0] == "*"  # an allow-list: .env, databases and recordings stay out
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = {src.rstrip("/").removeprefix("./") for word, rest in _dockerfile()
              if word == "COPY" and "--from" not in rest for src in rest.split()[:-1]}
    assert copied == allowed
    assert not any(name == ".env" or name.startswith(".env") for name in copied)


# ------------------------------------------------------------------------------ Dockerfile


def test_the_dockerfile_runs_cti_unprivileged_with_a_health_check_and_no_secret() -> None:
    steps = _dockerfile()
    words = [w for w, _ in steps]
    by = {w: [r for x, r in steps if x == w] for w in words}
    args = dict(a.split("=", 1) for a in by.get("ARG", []) if "=" in a)
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", args["PYTHON_IMAGE"])
    # the last USER is cti (uid 1000 like the asterisk image's user), set before the command
    assert by["USER"][-1] == "cti" and args["CTI_UID"] == "1000"
    assert words.index("USER") < words.index("CMD")
    assert any("useradd --uid" in r and "cti" in r for r in by["RUN"])
    # the package without its dev extra; ffmpeg for recordings
    install = next(r for r in by["RUN"] if "pip install" in r)
    assert re.search(r"pip install --no-cache-dir \.( |$)", install) and "[dev]" not in install
    assert any("apt-get install" in r and "ffmpeg" in r for r in by["RUN"])
    # the web UI travels in the wheel (tests/test_packaging.py); the build checks it is found
    assert "COPY web ./web" in [f"COPY {r}" for r in by["COPY"]]
    assert "WEB_DIR" in install and "base.html" in install
    assert notify.MAIL_TEMPLATES.is_relative_to(keys.WEB_DIR)
    # data in a volume, the web port exposed, a health check on /healthz
    env = _image_env()
    assert by["VOLUME"] == ['["/var/lib/cti"]']
    assert Path(env["CTI_DB_PATH"]).parent == Path("/var/lib/cti")
    assert by["EXPOSE"] == [env["CTI_WEB_PORT"]]
    assert env["CTI_WEB_HOST"] == "0.0.0.0"
    assert len(by["HEALTHCHECK"]) == 1 and "/healthz" in by["HEALTHCHECK"][0]
    assert by["ENTRYPOINT"] == ['["cti-entrypoint"]'] and by["CMD"] == ['["cti", "serve"]']
    # no secret baked in: no ENV/ARG that names one, no .env copied
    secret = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY", re.I)
    assert [k for k in [*env, *args] if secret.search(k)] == []
    assert not any(".env" in r for r in by["COPY"])


def _healthcheck_command() -> list[str]:
    rest = next(r for w, r in _dockerfile() if w == "HEALTHCHECK")
    command: list[str] = json.loads(rest.split(" CMD ", 1)[1])
    return command


def test_the_compose_health_check_is_the_images(compose: list[str], tmp_path: Path) -> None:
    doc = _normalised(compose, _env_file(tmp_path, SECRETS), tmp_path)
    assert doc["services"]["cti"]["healthcheck"]["test"] == ["CMD", *_healthcheck_command()]


async def _run(command: list[str], env: dict[str, str]) -> int:
    proc = await asyncio.create_subprocess_exec(*command, env=env,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    return await proc.wait()


async def test_the_health_check_passes_only_while_cti_says_it_is_healthy(tmp_path: Path) -> None:
    command = _healthcheck_command()
    assert command[0] == "python"
    command = [sys.executable, *command[1:]]
    states = {"default": "connected"}
    store = await Store.open(tmp_path / "cti.db")
    try:
        async with serve_app(store, pbx_states=lambda: dict(states)) as client:
            env = {**os.environ, "CTI_WEB_PORT": str(client.port)}
            assert await _run(command, env) == 0
            states["default"] = "disconnected"  # /healthz: 503
            assert await _run(command, env) != 0
        assert await _run(command, env) != 0  # nothing listening
    finally:
        await store.close()


# --------------------------------------------------------------------------- entrypoints


def _asterisk_entrypoint(etc: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARS}
    return subprocess.run(
        ["sh", str(DOCKER_DIR / "asterisk-entrypoint.sh"), "sh", "-c",
         'echo "ran $0 $1"; env | grep -c -e AMI_SECRET -e ARI_PASSWORD || true', "a1", "a2"],
        capture_output=True, text=True, env={**base, "CTI_ASTERISK_ETC": str(etc), **env},
        check=False)


def test_the_asterisk_entrypoint_writes_the_secrets_that_win(tmp_path: Path) -> None:
    done = _asterisk_entrypoint(tmp_path, **SECRETS)
    assert done.returncode == 0, done.stderr
    # the command ran, with its arguments, without the secrets in its environment
    assert done.stdout.split("\n")[:2] == ["ran a1 a2", "0"]
    for name in ("manager_cti_secret.conf", "ari_cti_secret.conf"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0  # owner only
    # what Asterisk reads: the sample's placeholder first, the .env value last (the one used)
    manager = load(DOCKER_DIR / "manager.conf", [tmp_path, ROOT / "dialplan"])
    assert manager.errors == []
    assert manager.values("cti", "secret") == ["change-me-use-a-long-random-secret",
                                               SECRETS["AMI_SECRET"]]
    ari = load(DOCKER_DIR / "ari.conf", [tmp_path, ROOT / "dialplan"])
    assert ari.errors == []
    assert ari.values("cti", "password")[-1] == SECRETS["ARI_PASSWORD"]
    assert ari.values("cti", "password_format")[-1] == "plain"


@pytest.mark.parametrize(("value", "message"), [
    ("", "AMI_SECRET is empty"),
    ("change-me-ami-secret", "placeholder of .env.example"),
    ("abc123", "at least 16 characters"),
    ("abcdefabcdef0123;x", "letters, digits"),  # ";" would start a comment in manager.conf
    ("abcdefabcdef0123\nread = all", "letters, digits"),  # a line break, a new setting
])
def test_the_asterisk_entrypoint_refuses_unsafe_secrets(tmp_path: Path, value: str,
                                                        message: str) -> None:
    done = _asterisk_entrypoint(tmp_path, **{**SECRETS, "AMI_SECRET": value})
    assert done.returncode != 0 and message in done.stderr
    assert "ran" not in done.stdout and not (tmp_path / "manager_cti_secret.conf").exists()


def _cti_entrypoint(tmp_path: Path, password: str | None) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "cti").exists(), "the cti command is installed beside the test's python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")
           and k not in COMPOSE_VARS}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               CTI_DB_PATH=str(tmp_path / "cti.db"))
    if password is not None:
        env["ADMIN_PASSWORD"] = password
    return subprocess.run(["sh", str(DOCKER_DIR / "cti-entrypoint.sh"), "sh", "-c",
                           'echo "ran $0"; env | grep -c ADMIN_PASSWORD || true', "serve"],
                          capture_output=True, text=True, env=env, check=False)


async def _authenticate(tmp_path: Path, password: str) -> str | None:
    store = await Store.open(tmp_path / "cti.db")
    try:
        users = UserService(store)
        user = await users.authenticate("admin", password)
        count = len(await users.list_all())
        return None if user is None else f"{user.username}:{user.role}:{count}"
    finally:
        await store.close()


async def test_the_cti_entrypoint_creates_the_first_admin_once(tmp_path: Path) -> None:
    first = _cti_entrypoint(tmp_path, "first-Pass-2026")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split("\n")[:2] == ["ran serve", "0"]  # no password left for cti serve
    assert "created the first admin" in first.stderr
    assert await _authenticate(tmp_path, "first-Pass-2026") == "admin:admin:1"
    # later starts never touch the users again, whatever ADMIN_PASSWORD now says
    again = _cti_entrypoint(tmp_path, "another-Pass-2026")
    assert again.returncode == 0 and "created" not in again.stderr
    assert await _authenticate(tmp_path, "another-Pass-2026") is None
    assert await _authenticate(tmp_path, "first-Pass-2026") == "admin:admin:1"


@pytest.mark.parametrize(("password", "message"), [
    ("change-me-admin-password", "placeholder of .env.example"),
    ("short", "between 8 and"),  # cti's own rule, from cti user add
])
async def test_the_cti_entrypoint_refuses_a_bad_first_password(
        tmp_path: Path, password: str, message: str) -> None:
    done = _cti_entrypoint(tmp_path, password)
    assert done.returncode != 0 and message in done.stderr and "ran" not in done.stdout


def test_without_admin_password_the_cti_entrypoint_just_runs_the_command(
        tmp_path: Path) -> None:
    done = _cti_entrypoint(tmp_path, None)
    assert done.returncode == 0 and done.stdout.startswith("ran serve")
    assert not (tmp_path / "cti.db").exists()  # nothing created behind the admin's back
