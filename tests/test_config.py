"""Configuration: precedence, validation with clear errors, and every setting documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.cli import main
from cti.config import SETTINGS, ConfigError, load_config

README = Path(__file__).parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [s.key for s in SETTINGS if f"`{s.key}`" not in text]
    assert missing == []


def test_defaults_give_one_pbx_pointing_at_the_simulator() -> None:
    cfg = load_config(env={})
    assert [p.name for p in cfg.pbxes] == ["default"]
    assert (cfg.pbxes[0].ami_host, cfg.pbxes[0].ami_port) == ("127.0.0.1", 5038)
    assert cfg.get("overlong.seconds") == 600.0


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "cti.toml"
    f.write_text('[db]\npath = "from-file.db"\n[overlong]\nseconds = 120\n'
                 'by_queue = { support = 60 }\n'
                 '[[pbx]]\nname = "main"\nami_port = 5039\n'
                 '[[pbx]]\nname = "branch-2"\nami_host = "10.1.1.1"\n')
    env = {"CTI_OVERLONG_SECONDS": "300", "CTI_PBX_MAIN_AMI_SECRET": "s3cr3t",
           "CTI_PBX_BRANCH_2_AMI_PORT": "6000"}
    cfg = load_config(f, env=env, overrides={"db.path": "flag.db", "pbx.ami_port": 7000})
    assert cfg.get("db.path") == "flag.db"
    assert cfg.get("overlong.seconds") == 300.0
    main_pbx, branch = cfg.pbxes
    assert main_pbx.ami_secret == "s3cr3t" and main_pbx.ami_port == 7000
    assert branch.ami_host == "10.1.1.1" and branch.ami_port == 6000
    tc = cfg.tracker_config(branch)
    assert tc.pbx == "branch-2" and tc.overlong_threshold("inbound", "support") == 60.0


@pytest.mark.parametrize(("text", "env", "needle"), [
    ("[db]\nfoo = 1\n", {}, "db.foo"),
    ("[nope]\n", {}, "[nope]"),
    ("[[pbx]]\nami_port = 'x'\n", {}, "pbx.ami_port"),
    ("[[pbx]]\nami_port = 70000\n", {}, "pbx.ami_port"),
    ("[[pbx]]\nextension_pattern = '('\n", {}, "pbx.extension_pattern"),
    ("[[pbx]]\nbogus = 1\n", {}, "pbx.bogus"),
    ("[[pbx]]\nname='a'\n[[pbx]]\nname='a'\n", {}, "duplicate"),
    ("", {"CTI_OVERLONG_SECONDS": "soon"}, "overlong.seconds"),
    ("", {"CTI_LOG_JSON": "maybe"}, "log.json"),
    ("[db\n", {}, "cti.toml"),
])
def test_bad_config_names_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                  needle: str) -> None:
    f = tmp_path / "cti.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
        load_config(f, env=env)
    assert needle in str(err.value)


def test_cli_reports_config_errors_and_hides_secrets(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "cti.toml"
    f.write_text("[lookup]\ndolibarr_api_key = 'k3y'\n[[pbx]]\nami_secret = 'hunter2'\n")
    assert main(["config", "-c", str(f)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "k3y" not in out and "***" in out
    f.write_text("[db]\npaht = 'x'\n")
    assert main(["config", "-c", str(f)]) == 2
    assert "db.paht" in capsys.readouterr().err
