"""The Asterisk samples of dialplan/ and the checker that reads them (cti.asterisk_conf).

The samples are what people copy onto their PBX; a mistake there does not fail loudly in
Asterisk (the line is dropped with a warning), so they are checked here: syntax, dialplan
rules, the recording subroutine's contract with cti, and the AMI rights cti's actions need.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from cti.asterisk_conf import ConfError, Config, Section, load, parse
from cti.asterisk_dialplan import Step, check, dialplan, main, matches, split_top
from cti.config import SETTINGS

ROOT = Path(__file__).parent.parent
DIALPLAN = ROOT / "dialplan"
LAB = Path(__file__).parent / "fixtures" / "lab-config" / "extensions.conf"
COMPOSE = ROOT / "docker-compose.asterisk.yml"
DEFAULTS = {s.key: s.default for s in SETTINGS}

SAMPLES = ("extensions_cti.conf", "manager_cti.conf", "ari_cti.conf", "http_cti.conf",
           "pjsip_cti.conf", "queues_cti.conf")


def _errors(text: str, tmp_path: Path, name: str = "extensions.conf") -> list[ConfError]:
    path = tmp_path / name
    path.write_text(text)
    return check(path)


def _cti_plan() -> dict[str, list[Step]]:
    plan = dialplan(load(DIALPLAN / "extensions_cti.conf"))
    assert plan.errors == []
    return {name: ctx.steps for name, ctx in plan.contexts.items()}


def _expanded(steps: list[Step]) -> list[tuple[str, str]]:
    """(app, args) of each step with the subroutine's own ``Set(LOCAL(x)=…)`` values filled in
    (the first assignment of each: the value on the normal path)."""
    local: dict[str, str] = {}
    out = []
    for step in steps:
        args = step.args
        for name, value in local.items():
            args = args.replace("${" + name + "}", value)
        m = re.fullmatch(r"LOCAL\((\w+)\)=(.*)", args)
        if step.app == "Set" and m:
            local.setdefault(m.group(1), m.group(2))
        out.append((step.app, args))
    return out


# ------------------------------------------------------------------------- the samples parse


def test_every_file_in_dialplan_parses_without_error() -> None:
    files = sorted(DIALPLAN.rglob("*.conf"))
    assert {f.name for f in files} >= set(SAMPLES)
    errors = [e for f in files for e in check(f, [DIALPLAN])]
    assert errors == []


def test_the_docker_main_files_pull_in_the_samples() -> None:
    cfg = load(DIALPLAN / "docker" / "extensions.conf", [DIALPLAN])
    assert str(DIALPLAN / "extensions_cti.conf") in cfg.files
    assert cfg.values("globals", "CTI_RECDIR") == ["/var/spool/asterisk/monitor/cti"]
    manager = load(DIALPLAN / "docker" / "manager.conf", [DIALPLAN])
    assert manager.values("cti", "write") == ["originate,call,reporting"]
    assert "172.30.99.0/255.255.255.0" in manager.values("cti", "permit")


def test_the_lab_dialplan_of_the_real_captures_parses() -> None:
    plan = dialplan(load(LAB))
    assert plan.errors == []
    assert {"sub-rec-on-answer", "from-trunk", "in-noanswer", "from-internal",
            "outbound"} <= set(plan.contexts)
    trunk = plan.contexts["from-trunk"]
    assert trunk.labels["0155512345"] == {"busy": 9, "done": 10}
    dials = [s.args for s in plan.steps("Dial")]
    assert "PJSIP/${EXTEN}@trunk,60,Tb(sub-outbound-cid^s^1)U(sub-rec-on-answer)" in dials
    assert len(plan.steps()) > 40


# ------------------------------------------------------------------- broken files are caught


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("[c]\nexten => s,1,NoOp(hello\n", 2, "missing ')'"),
    ("[c]\nexten => s,1,Dial(PJSIP/1,20,U(x)\n", 2, "missing ')'"),
    ("[c]\nexten => s,1,NoOp(a))\n", 2, "unexpected ')'"),
    ("[c]\nexten => s,1,Set(X=$[1 + 2)\n", 2, "missing ']'"),
    ("[c]\n same => n,NoOp(first)\n", 2, "'same =>' without an 'exten =>'"),
    ("[c]\nexten => s,1,NoOp()\n same => n,NoOp()\nexten => s,2,Hangup()\n", 4,
     "duplicate priority 2 of extension s"),
    ("[c]\nexten => s,1,NoOp()\nexten => s,missing+1,NoOp()\n", 3,
     "unknown priority label 'missing'"),
    ("[c]\nexten => s,1,Goto(nolabel)\n", 2, "unknown priority label 'nolabel'"),
    ("[c]\nexten => s,1,GotoIf($[1]?s,yes:no)\n same => n(yes),NoOp()\n", 2,
     "unknown priority label 'no'"),
    ("[c]\nexten => s,1,Gosub(nowhere,s,1(a,b))\n", 2, "unknown context 'nowhere'"),
    ("[c]\nexten => s,1,Dial(PJSIP/1,20,tU(sub-missing))\n", 2, "unknown context 'sub-missing'"),
    ("[c]\nexten => s,1,Queue(support,tr,,,60,,sub-missing)\n", 2, "unknown context"),
    ("[c]\nexten => s,1,Goto(d,1234,1)\n[d]\nexten => _100X,1,NoOp()\n", 2,
     "no extension '1234' in [d]"),
    ("[c]\ninclude => nowhere\nexten => s,1,NoOp()\n", 2, "includes unknown context 'nowhere'"),
    ("[c]\nexten => s,x,NoOp()\n", 2, "bad priority 'x'"),
    ("[c]\nexten => s,1\n", 2, "expected 'extension,priority,Application(...)'"),
    ("[c]\nfoo => bar\n", 2, "unknown dialplan keyword 'foo'"),
    ("[c]\nthis is not a line\n", 2, "expected 'key = value'"),
    ("exten => s,1,NoOp()\n", 1, "outside any [section]"),
    ("[general]\n[c\n", 2, "malformed section header"),
    ("[x](nosuch)\n", 1, "inherits unknown template 'nosuch'"),
    ("[x](+)\n", 1, "adds to a section that does not exist"),
    ("[general]\n#include nowhere.conf\n", 2, "#include nowhere.conf: no such file"),
    ("[general]\n#inclde x.conf\n", 2, "unknown or empty directive"),
    ("[c]\n;-- a block comment\nexten => s,1,NoOp()\n", 3, "never closed"),
])
def test_broken_snippets_give_the_error_with_its_line(tmp_path: Path, text: str, line: int,
                                                      fragment: str) -> None:
    errors = _errors(text, tmp_path)
    assert [(e.line, fragment in e.message) for e in errors] == [(line, True)], errors
    assert str(errors[0]).startswith(f"{tmp_path / 'extensions.conf'}:{line}: ")


def test_an_error_in_an_included_file_names_that_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("[d]\nexten => s,1,NoOp()\nexten => s,1,Hangup()\n")
    errors = _errors("[general]\nstatic = yes\n#include \"inc.conf\"\n", tmp_path)
    assert [(Path(e.file).name, e.line) for e in errors] == [("inc.conf", 3)]


def test_an_include_loop_is_reported_not_followed(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("[a]\nx = 1\n#include b.conf\n")
    (tmp_path / "b.conf").write_text("#include a.conf\n")
    cfg = load(tmp_path / "a.conf")
    assert [m.message for m in cfg.errors] == ["#include a.conf: include loop"]


def test_an_include_starts_in_the_includers_section_which_goes_on_after(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("b = 2\n[other]\nc = 3\n")
    cfg = parse("[main]\na = 1\n#include inc.conf\nd = 4\n", "x.conf", [tmp_path])
    assert cfg.errors == []
    assert [(s.name, [e.key for e in s.entries]) for s in cfg.sections] == [
        ("main", ["a", "b", "d"]), ("other", ["c"])]


def test_comment_rules_follow_asterisk(tmp_path: Path) -> None:
    text = ("[c] ;------------ a ruler, not a block comment\n"
            "a = x\\;y ; the escaped one stays\n"
            ";-- outer ;-- inner --; still out --;\n"
            "b = 2 ;-- a block that ends\n"
            "on this line --; c = 3\n")
    cfg = parse(text, "x.conf")
    assert cfg.errors == []
    assert [(e.key, e.value) for e in cfg.sections[0].entries] == [
        ("a", "x;y"), ("b", "2"), ("c", "3")]


def test_tryinclude_of_a_missing_file_is_fine(tmp_path: Path) -> None:
    assert _errors("[general]\n#tryinclude missing.conf\n", tmp_path) == []


def test_what_asterisk_accepts_parses_to_the_right_steps(tmp_path: Path) -> None:
    text = ("[general]\nstatic=yes\n[globals]\nA = 1\n"
            "[c]\n"
            "exten => _X.,50000(entry),NoOp(a\\;b) ; comment\n"
            "\tsame => n(next),Set(LOCAL(m)=\"${x}\"$[\"${y}\" ? \"@${y}\" :: \"\"])\n"
            "exten => _X.,n,Wait,2\n"
            "exten = 100,hint,PJSIP/100\n"
            "exten => 100,1,Dial(PJSIP/100,20,rt)\n"
            "exten => 100,n(dial),Dial(${HINT})\n"
            "exten => 100,s+1,Hangup\n"
            "exten => 100,dial+101,VoiceMail(100,b)\n"
            "exten => 200,1,Goto(100,dial)\n"
            " same => n,Goto(555,entry)\n"
            " same => n,GotoIf($[\"${X}\" = \"?\"]?c,100,1:200,1)\n"
            " same => n,ExecIf($[1]?Gosub(c,100,dial(a,b)))\n"
            " same => n,Goto(${DEST},1)\n"
            "include => parkedcalls\n"
            "ignorepat => 9\n"
            ";-- a block\ncomment --;\n")
    path = tmp_path / "extensions.conf"
    path.write_text(text)
    assert check(path) == []
    steps = [(s.exten, s.priority, s.label, s.app, s.args)
             for s in dialplan(load(path)).contexts["c"].steps]
    assert steps[:3] == [
        ("_X.", 50000, "entry", "NoOp", "a;b"),
        ("_X.", 50001, "next", "Set", "LOCAL(m)=\"${x}\"$[\"${y}\" ? \"@${y}\" :: \"\"]"),
        ("_X.", 50002, "", "Wait", "2"),
    ]
    assert [(e, p, a) for e, p, _, a, _ in steps[3:8]] == [
        ("100", -1, "hint"), ("100", 1, "Dial"), ("100", 2, "Dial"), ("100", 3, "Hangup"),
        ("100", 103, "VoiceMail")]


def test_extension_patterns_match_like_asterisk() -> None:
    assert matches("_100X", "1004") and not matches("_100X", "100")
    assert matches("_[+0-9]X.", "+33612345678") and not matches("_[+0-9]X.", "12")
    assert matches("_NXXNXXXXXX", "2125551234") and not matches("_NXXNXXXXXX", "1125551234")
    assert matches("_X!", "1") and matches("_s-.", "s-BUSY") and matches("s", "s")
    assert not matches("s", "t")


def test_the_command_line_check_prints_file_line_and_fails(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    bad = tmp_path / "extensions.conf"
    bad.write_text("[c]\nexten => s,1,NoOp(\n")
    assert main([str(bad)]) == 1
    assert f"{bad}:2: NoOp: missing ')'" in capsys.readouterr().out
    assert main([str(p) for p in DIALPLAN.glob("*.conf")]) == 0


# --------------------------------------------------------- the recording subroutine contract


def test_the_subroutine_starts_mixmonitor_named_by_linkedid_and_tells_cti() -> None:
    steps = _expanded(_cti_plan()["cti-record"])
    monitors = [args for app, args in steps if "MixMonitor(" in f"{app}({args})"]
    assert len(monitors) == 1
    inner = monitors[0][monitors[0].index("MixMonitor(") + len("MixMonitor("):].removesuffix(")")
    filename = split_top(inner, ",")[0]
    assert "${CHANNEL(linkedid)}-${UNIQUEID}" in filename and filename.endswith(".wav")
    assert filename.startswith("${CTI_RECDIR}/")  # the folder is a setting
    after = steps[[a for _, a in steps].index(monitors[0]):]
    assert ("Set", f"CTI_RECORDING={filename}") in after


def test_per_direction_files_are_optional_and_announced() -> None:
    steps = _expanded(_cti_plan()["cti-record"])
    options = [a for app, a in steps if app == "ExecIf" and "LOCAL(options)=" in a]
    assert len(options) == 1 and "CTI_RECORD_LEGS" in options[0]  # the condition, expanded
    assert "r(${CTI_RECDIR}/" in options[0] and "-rx.wav)t(" in options[0]
    assert options[0].endswith("-tx.wav))")
    announced = [a for app, a in steps if app == "ExecIf" and "CTI_RECORDING=" in a]
    assert [a.endswith(("-rx.wav)", "-tx.wav)")) for a in announced] == [True, True]
    legs = next(a for app, a in steps if app == "Set" and a.startswith("LOCAL(legs)="))
    assert "CTI_RECORD_LEGS" in legs


def test_recording_can_be_switched_off_and_defaults_to_a_folder() -> None:
    steps = _expanded(_cti_plan()["cti-record"])
    assert ("GotoIf", '$["${TOLOWER(${CTI_RECORD})}" = "no"]?off') in steps
    assert any("/var/spool/asterisk/monitor" in a for app, a in steps if app == "ExecIf")


def test_the_file_name_gives_cti_the_call_and_the_leg() -> None:
    naming = pytest.importorskip("cti.recordings.naming")
    steps = _expanded(_cti_plan()["cti-record"])
    name = next(a for app, a in steps if app == "Set" and a.startswith("LOCAL(name)="))
    example = (name.removeprefix("LOCAL(name)=")
               .replace("${STRFTIME(${EPOCH},UTC,%Y%m%d-%H%M%S)}", "20261123-143112")
               .replace("${CHANNEL(linkedid)}", "1795444272.132")
               .replace("${UNIQUEID}", "1795444272.133"))
    path = f"/var/spool/asterisk/monitor/cti/{example}"
    assert set(naming.call_ids_in(path + ".wav")) == {"1795444272.132", "1795444272.133"}
    assert naming.leg_of(path + ".wav") == "mixed"
    assert (naming.leg_of(path + "-rx.wav"), naming.leg_of(path + "-tx.wav")) == ("rx", "tx")


def test_recording_starts_only_on_answer_in_every_example_context() -> None:
    plan = _cti_plan()
    outside = [s for name, steps in plan.items() if name != "cti-record" for s in steps
               if "mixmonitor" in f"{s.app}({s.args})".lower()]
    assert outside == []
    dials = [s for steps in plan.values() for s in steps if s.app == "Dial"]
    queues = [s for steps in plan.values() for s in steps if s.app == "Queue"]
    assert len(dials) >= 3 and len(queues) >= 1
    assert all("U(cti-record)" in s.args.split(",")[2] for s in dials)
    assert all(s.args.split(",")[6] == "cti-record" for s in queues)


def test_the_example_contexts_cover_inbound_outbound_internal_and_click_to_dial() -> None:
    plan = dialplan(load(DIALPLAN / "extensions_cti.conf"))
    ctx = DEFAULTS["pbx.dial_context"]
    assert ctx in plan.contexts  # cti's Originate sends the number here
    for number in ("0612345678", "+33612345678", "1002"):  # outbound and internal from a phone
        assert any(matches(p, number) for c in [ctx, "cti-extensions"]
                   for p in plan.contexts[c].labels)
    inbound = [c for c in plan.contexts
               if any(fnmatch.fnmatch(c, g) for g in DEFAULTS["pbx.inbound_contexts"])]
    assert inbound == ["from-trunk-cti"]
    assert {s.args.split(",")[0] for s in plan.steps("Queue")} == {"support"}  # DID and 600
    assert any("@trunk," in s.args for s in plan.steps("Dial"))


# ------------------------------------------------------------------------- the other samples


def _type(cfg: Config, sec: Section) -> list[str]:
    """A PJSIP section's ``type``, its own or its templates'."""
    own = [e.value for e in sec.entries if e.key == "type"]
    return own or [v for base in sec.bases for v in cfg.values(base, "type")]

#: AMI action → the write classes Asterisk accepts for it, any one of them (manager.c,
#: app_mixmonitor.c, bridges: ``ast_manager_register_xml(name, flags, …)``; empty: anyone).
AMI_ACTION_CLASSES: dict[str, set[str]] = {
    "Login": set(), "Logoff": set(), "Ping": set(), "Events": set(),
    "Originate": {"originate"},
    "MixMonitorMute": {"system", "call"},
    "StopMixMonitor": {"system", "call"},
    "MixMonitor": {"system"},
    "CoreShowChannels": {"system", "reporting"},
    "BridgeList": set(),
    "QueueStatus": set(),
    "Hangup": {"system", "call"},
    "Redirect": {"call"},
    "BlindTransfer": {"call"},
    "Atxfer": {"call"},
    "Park": {"call"},  # res_parking: ast_manager_register2("Park", EVENT_FLAG_CALL, …)
}


def _actions_cti_sends() -> set[str]:
    found = set()
    for path in (ROOT / "cti").rglob("*.py"):
        if "sim" not in path.relative_to(ROOT / "cti").parts:  # the simulator only answers
            found |= set(re.findall(r'"Action":\s*"(\w+)"', path.read_text()))
    return found


def test_the_ami_user_may_send_every_action_cti_sends_and_no_more() -> None:
    cfg = load(DIALPLAN / "manager_cti.conf")
    write = {c.strip() for v in cfg.values("cti", "write") for c in v.split(",")}
    read = {c.strip() for v in cfg.values("cti", "read") for c in v.split(",")}
    sent = _actions_cti_sends()
    assert {"Originate", "MixMonitorMute", "StopMixMonitor", "CoreShowChannels"} <= sent
    unknown = sent - set(AMI_ACTION_CLASSES)
    assert unknown == set(), "add these actions' classes to AMI_ACTION_CLASSES"
    refused = [a for a in sent if AMI_ACTION_CLASSES[a] and not AMI_ACTION_CLASSES[a] & write]
    assert refused == []
    assert {"originate", "call", "reporting"} <= write
    assert write.isdisjoint({"all", "system", "command", "config"})  # no shell, no config
    assert read == {"call", "dialplan", "agent", "cdr"}


def test_the_ami_user_is_reachable_from_loopback_only_with_a_placeholder_secret() -> None:
    cfg = load(DIALPLAN / "manager_cti.conf")
    assert [s.name for s in cfg.sections] == [DEFAULTS["pbx.ami_user"]]
    assert cfg.values("cti", "deny") == ["0.0.0.0/0.0.0.0"]
    assert cfg.values("cti", "permit") == ["127.0.0.1/255.255.255.255"]
    assert cfg.values("cti", "secret")[0].startswith("change-me")
    assert "CTI_PBX_" in (DIALPLAN / "manager_cti.conf").read_text()  # secret via environment


def test_ari_http_queue_and_pjsip_samples_fit_cti_defaults() -> None:
    ari = load(DIALPLAN / "ari_cti.conf")
    assert ari.values(DEFAULTS["pbx.ari_user"], "type") == ["user"]
    http = load(DIALPLAN / "http_cti.conf")
    port = DEFAULTS["pbx.ari_url"].split(":")[2].split("/")[0]
    assert (http.values("general", "bindaddr"), http.values("general", "bindport")) == (
        ["127.0.0.1"], [port])
    queues = load(DIALPLAN / "queues_cti.conf")
    assert queues.values("support", "strategy") == ["ringall"]
    assert len(queues.values("support", "member")) == 2
    pjsip = load(DIALPLAN / "pjsip_cti.conf")
    endpoints = [s.name for s in pjsip.sections
                 if not s.template and _type(pjsip, s) == ["endpoint"]]
    assert endpoints == ["1001", "1002", "1003", "1004", "trunk"]
    assert all(re.search(DEFAULTS["pbx.extension_pattern"], e) for e in endpoints[:4])
    assert pjsip.values("1001", "context") == [DEFAULTS["pbx.dial_context"]]
    assert pjsip.values("trunk", "context") == ["from-trunk-cti"]
    assert any(s.template for s in pjsip.named("cti-trunk"))


# ------------------------------------------------------------------------------ docker compose


def test_the_compose_file_mounts_files_that_exist_on_loopback_ports() -> None:
    text = COMPOSE.read_text()
    mounted = re.findall(r"^\s*- \./(dialplan/[\w/.-]+):(/etc/asterisk/[\w.-]+):ro$", text, re.M)
    assert {Path(src).name for src, _ in mounted} >= set(SAMPLES)
    assert [src for src, _ in mounted if not (ROOT / src).is_file()] == []
    targets = [dst for _, dst in mounted]
    assert len(targets) == len(set(targets))
    ports = re.findall(r'^\s*- "([\d.:]+)"', text, re.M)
    assert ports == ["127.0.0.1:5038:5038", "127.0.0.1:8088:8088"]
    assert "./recordings:/var/spool/asterisk/monitor/cti" in text


def test_the_compose_file_is_valid_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(COMPOSE.read_text())
    service = doc["services"]["asterisk"]
    assert service["image"].startswith("andrius/asterisk:")
    assert all(p.startswith("127.0.0.1:") for p in service["ports"])
    sources = [v.split(":")[0] for v in service["volumes"]]
    assert all((ROOT / s).exists() for s in sources)


def test_parse_reads_text_without_touching_disk() -> None:
    cfg = parse("[a](!)\nx = 1\n[b](a)\ny => 2\n", "mem.conf")
    assert cfg.errors == [] and cfg.values("b", "x") == ["1"] and cfg.values("b", "y") == ["2"]
