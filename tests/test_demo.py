"""``cti demo`` as a newcomer runs it: the simulator and the daemon come up and calls land in
SQLite well within a minute (the deadline below), and Ctrl-C stops it cleanly."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest


def calls_in(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("select count(*) from calls").fetchone()[0])
    except sqlite3.OperationalError:  # the daemon has not created the schema yet
        return 0


def test_demo_writes_calls_to_sqlite_within_a_minute(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cti", "demo", "--ami-port", "0", "--ari-port", "0",
         "--web-port", "0", "--rate", "30", "--time-scale", "5", "--db", str(db), "--recordings",
         str(tmp_path / "rec")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while calls_in(db) < 3:
            if proc.poll() is not None:
                pytest.fail(f"demo exited early: {proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                pytest.fail("no 3 calls in SQLite after 60 s")
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "cti demo running" in out
    assert re.search(r"web UI +http://127\.0\.0\.1:\d+\n", out), out
    assert re.search(r"agent1 +agent1-demo +agent 1001", out), out
    assert " inbound " in out or " outbound " in out or " internal " in out
    with sqlite3.connect(db) as conn:
        statuses = {r[0] for r in conn.execute("select status from calls")}
        unanswered = conn.execute(
            "select count(*) from calls where direction = 'inbound' and status in "
            "('missed', 'abandoned', 'busy', 'no_answer')").fetchone()[0]
        tickets = conn.execute(
            "select count(*) from ticket_calls tc join calls c on c.pbx = tc.pbx "
            "and c.call_id = tc.call_id where c.status != 'answered'").fetchone()[0]
        groups = [r[0] for r in conn.execute("select name from groups")]
    assert statuses <= {"answered", "missed", "abandoned", "busy", "no_answer", "failed"}
    assert groups == ["Hotline"]
    # The demo opens a ticket for each unanswered inbound call (tickets.auto_missed); one
    # ended as the demo stopped may still have been on its way.
    assert unanswered - 1 <= tickets <= unanswered


def test_demo_refuses_a_port_in_use_with_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "cti", "sim", "--ami-port", str(port), "--ari-port", "0",
             "--seconds", "1"], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert "another PBX or cti demo" in proc.stderr


async def test_demo_serves_the_web_ui_with_the_demo_logins(tmp_path: Path) -> None:
    """In one process, as ``cti demo`` runs it: the printed URL answers, and the printed
    agent1 login works."""
    import asyncio
    import io

    import aiohttp

    from cti.config import load_config
    from cti.demo import SimOptions, run_demo
    from cti.webapp.server import start_for_daemon

    config = load_config(env={}, overrides={"db.path": str(tmp_path / "demo.db"),
                                            "web.port": 0})
    out = io.StringIO()
    opts = SimOptions(ami_port=0, ari_port=0, rate=0.1, recordings=None)
    demo = asyncio.create_task(run_demo(config, opts, 8.0, out, web=start_for_daemon))
    for _ in range(100):
        found = re.search(r"web UI +(http://\S+)", out.getvalue())
        if found or demo.done():
            break
        await asyncio.sleep(0.1)
    assert found, out.getvalue()
    url = found.group(1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url + "/healthz") as resp:
            assert await resp.json() == {"status": "ok"}
        async with http.get(url + "/login") as resp:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
        assert token
        async with http.post(url + "/login", data={"username": "agent1",
                                                   "password": "agent1-demo",
                                                   "csrf_token": token.group(1)}) as resp:
            assert resp.status == 200 and "1001" in await resp.text()
        async with http.get(url + "/api/status") as resp:
            status = await resp.json()
        assert status["user"]["extensions"] == ["1001"] and "default" in status["daemon"]
    assert await demo == 0


async def test_demo_callers_answer_the_post_call_survey(tmp_path: Path) -> None:
    """The demo turns the survey on and its callers answer it after answered inbound calls:
    survey rows with the agent who took the call and scores 1-5 land in SQLite."""
    import asyncio
    import io

    from cti.config import load_config
    from cti.demo import SimOptions, run_demo

    db = tmp_path / "demo.db"
    config = load_config(env={}, overrides={"db.path": str(db), "survey.enabled": True})
    opts = SimOptions(ami_port=0, ari_port=0, rate=40, recordings=None, time_scale=5, seed=3)
    demo = asyncio.create_task(run_demo(config, opts, 90.0, io.StringIO()))
    rows: list[tuple[str, str | None, int | None]] = []
    try:
        for _ in range(900):
            if demo.done():
                break
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        rows = conn.execute(
                            "select s.status, s.agent, a.score from surveys s join calls c on "
                            "c.pbx = s.pbx and c.call_id = s.call_id left join survey_answers a "
                            "on a.survey_id = s.id where s.status != 'running'").fetchall()
                except sqlite3.OperationalError:
                    rows = []
            if any(score is not None for _, _, score in rows):
                break
            await asyncio.sleep(0.1)
    finally:
        demo.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await demo
    scored = [(status, agent, score) for status, agent, score in rows if score is not None]
    assert scored, rows
    assert all(1 <= int(score) <= 5 and agent for _, agent, score in scored)
    assert {status for status, _, _ in scored} <= {"completed", "partial"}
