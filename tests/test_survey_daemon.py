"""The survey as ``cti serve`` runs it: the daemon, with ``survey.enabled``, opens the Stasis
app on the PBX's ARI, learns the call from AMI (the simulator plays a real capture over TCP)
and surveys its caller; with the survey off it opens no ARI link at all."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cti.config import load_config
from cti.daemon import Daemon
from cti.sim.ami_server import AmiServer
from cti.sim.ari_server import AriServer
from cti.sim.ari_survey import survey_caller
from cti.sim.capture import CapturePlayer, load_capture
from tests.captures import FIXTURES

INBOUND = "1795444272.132"


async def until(test: Any) -> None:
    async with asyncio.timeout(10):
        while not test():
            await asyncio.sleep(0.01)


def config(tmp_path: Path, ami: AmiServer, ari: AriServer, **values: Any) -> Any:
    return load_config(env={}, overrides={
        "db.path": str(tmp_path / "cti.db"), "pbx.ami_port": ami.port, "pbx.ari_url": ari.url,
        "pbx.ami_backoff_min": 0.01, "pbx.ami_backoff_max": 0.05, "speech.enabled": False,
        **values})


async def test_the_daemon_surveys_a_caller_of_a_call_it_saw_on_ami(tmp_path: Path) -> None:
    async with AmiServer(timestamp_events=True) as ami, AriServer(playback_seconds=0.02) as ari:
        ari.media_seconds["sound:cti/survey-q1"] = ari.media_seconds["sound:cti/survey-q2"] = 60
        daemon = Daemon(config(tmp_path, ami, ari, **{"survey.enabled": True,
                                                      "survey.language": "en"}))
        await daemon.start()
        try:
            await ami.wait_for_login(1)
            await ari.wait_for_app("cti", 5)
            await asyncio.sleep(0.05)  # the login resync
            await CapturePlayer(ami, load_capture(FIXTURES / "inbound_answered"),
                                timestamps=True).play()
            assert daemon.live is not None
            await until(lambda: daemon.live.get("default", INBOUND) is not None)
            chan = survey_caller(ari, INBOUND, lang_arg="")
            await until(lambda: any(p.media[-1] == "sound:cti/survey-q1" and p.state == "playing"
                                    for p in ari.playbacks.values()))
            ari.send_dtmf(chan.id, "5")
            await until(lambda: any(p.media[-1] == "sound:cti/survey-q2" and p.state == "playing"
                                    for p in ari.playbacks.values()))
            ari.send_dtmf(chan.id, "3")
            await until(lambda: chan.id not in ari.channels)
            assert daemon.survey is not None and daemon.store is not None
            await until(lambda: daemon.survey is not None
                        and daemon.survey.apps["default"].running == 0)
            survey = await daemon.survey.surveys.of_call("default", INBOUND)
            assert survey is not None
            assert (survey["status"], survey["agent"], survey["language"]) == (
                "completed", "1001", "en")
            assert [a["score"] for a in survey["answers"]] == [5, 3]
            status = daemon.status()["survey"]["default"]
            assert (status["link"], status["started"], status["finished"]) == (
                "connected", 1, 1)
        finally:
            await daemon.close()
        assert ari.registered_apps == set()  # closed with the daemon


async def test_with_the_survey_off_no_stasis_app_is_registered(tmp_path: Path) -> None:
    async with AmiServer() as ami, AriServer() as ari:
        daemon = Daemon(config(tmp_path, ami, ari))
        await daemon.start()
        try:
            await ami.wait_for_login(1)
            assert daemon.survey is None and "survey" not in daemon.status()
            await asyncio.sleep(0.1)
            assert ari.registered_apps == set()
            try:
                survey_caller(ari, INBOUND)
            except LookupError:
                pass  # as Asterisk: Stasis(cti) fails at once, the dialplan hangs up
            else:
                raise AssertionError("a Stasis app was registered")
        finally:
            await daemon.close()
