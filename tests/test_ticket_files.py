"""Ticket attachments, canned phrases and groups over real loopback HTTP and a real SQLite
file: uploads by form and by script (streamed), the size limit (refused before reading when
the length says so, and mid-stream otherwise), the type allow-list and content sniffing, safe
names and download headers, a missing file; phrases suggested most used first and counted
when used; the groups admin page; roles and CSRF on all of it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.tickets.attachments import safe_name, sniff
from cti.webapp.keys import GROUPS, PHRASES
from tests.ticket_helpers import EN, LIMIT_MB, World, text_of, world
from tests.web_helpers import app_of, login

PDF = b"%PDF-1.7\n" + b"0123456789abcdef" * 100 + b"\n%%EOF\n"
LIMIT = int(LIMIT_MB * 1024 * 1024)


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(tmp_path) as w:
        yield w


def upload_form(csrf: str | None, data: bytes, name: str, ctype: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf_token", csrf)
    form.add_field("file", data, filename=name, content_type=ctype)
    return form


async def upload(w: World, tid: int, csrf: str, data: bytes, name: str = "report.pdf",
                 ctype: str = "application/pdf", *, script: bool = False) -> Any:
    if script:  # a script: the token in the header, the body streamed part by part
        return await w.client.post(f"/api/tickets/{tid}/attachments",
                                   data=upload_form(None, data, name, ctype),
                                   headers={"X-CSRF-Token": csrf})
    return await w.client.post(f"/tickets/{tid}/attachments", allow_redirects=False,
                               data=upload_form(csrf, data, name, ctype), headers=EN)


def stored_files(w: World) -> list[Path]:
    return sorted(p for p in w.attachments.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- attachments
async def test_upload_by_form_then_download_with_safe_headers(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Scanned invoice"})
    csrf = await login(w.client, "agent1")
    resp = await upload(w, t.id, csrf, PDF, name="Facture été 2026.pdf")
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == f"/tickets/{t.id}?done=attachment#files"
    [on_disk] = stored_files(w)
    assert on_disk.read_bytes() == PDF and len(on_disk.name) == 32  # random hex, no name
    page = await text_of(w.client, resp.headers["Location"])
    assert "Facture été 2026.pdf" in page and "File attached." in page
    assert "File attached: Facture été 2026.pdf (2 KB)" in page  # the timeline
    listed = (await (await w.client.get(f"/api/tickets/{t.id}")).json())["attachments"]
    assert listed[0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert listed[0]["size"] == len(PDF) and listed[0]["uploaded_by"] == "agent1"
    got = await w.client.get(listed[0]["url"])
    assert got.status == 200 and await got.read() == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    disposition = got.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Facture _t_ 2026.pdf"')
    assert "filename*=UTF-8''Facture%20%C3%A9t%C3%A9%202026.pdf" in disposition


async def test_a_path_in_the_name_is_never_used_as_a_path(w: World, tmp_path: Path) -> None:
    t = await w.tickets.create("agent1", {"subject": "Tricky"})
    csrf = await login(w.client, "agent1")
    resp = await upload(w, t.id, csrf, b"hello\n", name="../../../escape.txt",
                        ctype="text/plain", script=True)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["name"] == "escape.txt"
    assert not list(tmp_path.rglob("escape.txt"))  # nothing written under the given name
    [on_disk] = stored_files(w)
    assert on_disk.is_relative_to(w.attachments) and on_disk.read_bytes() == b"hello\n"
    assert safe_name("C:\\Users\\x\\..\\secret.doc") == "secret.doc"
    assert safe_name("..") == "file" and safe_name("a\x00b\n.txt") == "ab.txt"


async def test_too_big_is_refused_before_and_while_reading(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Huge"})
    csrf = await login(w.client, "agent1")
    # far over: refused from the Content-Length, with the limit in the message
    resp = await upload(w, t.id, csrf, PDF + b"x" * (LIMIT * 4))
    assert resp.status == 413 and "larger than the 0.05 MB limit" in await resp.text()
    # a little over (within the framing room): the service stops at the limit, mid-stream
    resp = await upload(w, t.id, csrf, PDF + b"x" * LIMIT, script=True)
    assert resp.status == 413
    body = await resp.json()
    assert body["error"] == "too_large" and body["message"] == (
        "The file is larger than the 0.05 MB limit.")
    resp = await upload(w, t.id, csrf, PDF + b"x" * LIMIT)  # the same by the form
    assert resp.status == 413 and "larger than the 0.05 MB limit" in await resp.text()
    assert stored_files(w) == []  # nothing half-written left behind
    assert await w.store.query("SELECT id FROM ticket_attachments") == []
    # just under the limit is fine; the limit is not 2 MB app-wide either
    ok = await upload(w, t.id, csrf, PDF + b"x" * (LIMIT - len(PDF)))
    assert ok.status == 303


async def test_wrong_or_lying_types_are_refused(w: World) -> None:
    t = await w.tickets.create("agent1", {"subject": "Types"})
    csrf = await login(w.client, "agent1")
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
    cases = [
        (exe, "setup.pdf", "application/pdf", "executable"),  # a program claiming PDF
        (exe, "tool.exe", "application/x-msdownload", "executable"),
        (b"not really a pdf", "fake.pdf", "application/pdf", "mismatch"),
        (b"\x89PNG\r\n\x1a\n....", "photo.jpg", "image/jpeg", "mismatch"),
        (b"text with a \x00 NUL", "notes.txt", "text/plain", "mismatch"),
        (b"<html></html>", "page.html", "text/html", "type"),
        (PDF, "invoice.pdf.bat", "application/pdf", "executable"),
        (b"", "empty.txt", "text/plain", "empty"),
    ]
    for data, name, ctype, code in cases:
        resp = await upload(w, t.id, csrf, data, name, ctype, script=True)
        body = await resp.json()
        assert resp.status in (413, 415), (name, resp.status, body)
        assert body["error"] == code, (name, body)
    page = await upload(w, t.id, csrf, exe, "setup.pdf", "application/pdf")
    assert page.status == 415 and "Programs cannot be attached." in await page.text()
    fr = await w.client.post(f"/tickets/{t.id}/attachments", allow_redirects=False,
                             data=upload_form(csrf, b"<x>", "x.html", "text/html"),
                             headers={"Accept-Language": "fr"})
    assert "Les fichiers de type text/html ne sont pas acceptés." in await fr.text()
    assert stored_files(w) == []
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav") is None
    assert sniff(b"PK\x03\x04rest", "application/vnd.oasis.opendocument.text") is None


async def test_missing_file_is_a_clear_410_and_others_cannot_reach_files(w: World) -> None:
    t = await w.tickets.create("boss", {"subject": "Private files", "public": False},
                               group_id=w.sales.id)
    csrf = await login(w.client, "agent2")
    made = await (await upload(w, t.id, csrf, PDF, script=True)).json()
    await login(w.client, "agent1")  # not in Sales: the ticket and its files do not exist
    assert (await w.client.get(made["url"])).status == 404
    resp = await upload(w, t.id, await login(w.client, "agent1"), PDF, script=True)
    assert resp.status == 404
    await login(w.client, "agent2")
    for path in stored_files(w):
        path.unlink()
    gone = await w.client.get(made["url"], headers=EN)
    assert gone.status == 410 and "missing on the server" in await gone.text()
    resp = await w.client.post(f"/tickets/{t.id}/attachments", allow_redirects=False,
                               data=upload_form(None, PDF, "a.pdf", "application/pdf"))
    assert resp.status == 403  # no CSRF token


# --------------------------------------------------------------------------- phrases
async def test_canned_phrases_are_managed_suggested_and_counted(w: World) -> None:
    csrf = await login(w.client, "agent1")
    assert (await w.client.get("/admin/phrases", headers=EN)).status == 403
    resp = await w.client.post("/admin/phrases", data={"csrf_token": csrf, "field": "response",
                                                       "text": "nope"}, allow_redirects=False)
    assert resp.status == 403
    csrf = await login(w.client, "boss")
    for text in ("Box rebooted, line back", "Reset the router password", "Sent a technician"):
        resp = await w.client.post("/admin/phrases", allow_redirects=False, data={
            "csrf_token": csrf, "field": "response", "text": text})
        assert resp.status == 303
    dup = await w.client.post("/admin/phrases", headers=EN, data={
        "csrf_token": csrf, "field": "response", "text": "Sent a technician"})
    assert dup.status == 409 and "This phrase exists already." in await dup.text()
    page = await text_of(w.client, "/admin/phrases")
    assert "Box rebooted, line back" in page and "used 0 times" in page
    csrf = await login(w.client, "agent1")
    found = await (await w.client.get("/api/phrases?field=response&q=re")).json()
    assert [p["text"] for p in found["phrases"]] == [
        "Box rebooted, line back", "Reset the router password"]
    # the ticket form offers them without any script
    form = await text_of(w.client, "/tickets/new")
    assert '<datalist id="phrases-response"><option value="Box rebooted, line back">' in form
    resp = await w.client.post("/tickets/new", allow_redirects=False, data={
        "csrf_token": csrf, "subject": "Slow line",
        "response": "Reset the router password\nthen checked the speed", "public": "1"})
    assert resp.status == 303
    found = await (await w.client.get("/api/phrases?field=response")).json()
    assert found["phrases"][0] == {**found["phrases"][0], "text": "Reset the router password",
                                   "uses": 1}
    # saving the ticket again with the phrase still in it does not count twice
    tid = int(resp.headers["Location"].split("/")[2].split("?")[0])
    resp = await w.client.post(f"/tickets/{tid}/edit", allow_redirects=False, data={
        "csrf_token": csrf, "subject": "Slow line (edited)", "kind": "hotline",
        "priority": "normal", "response": "Reset the router password\nthen checked the speed",
        "public": "1"})
    assert resp.status == 303
    phrases = await app_of(w.client)[PHRASES].suggest("response")
    assert (phrases[0].text, phrases[0].uses) == ("Reset the router password", 1)
    assert (await w.client.get("/api/phrases?field=subject")).status == 422


# --------------------------------------------------------------------------- groups
async def test_groups_admin_creates_and_sets_members_and_mailbox(w: World) -> None:
    csrf = await login(w.client, "boss")
    assert (await w.client.get("/admin/groups", headers=EN)).status == 403
    csrf = await login(w.client, "root")
    page = await text_of(w.client, "/admin/groups")
    assert "Hotline" in page and 'value="sales@example.fr"' in page
    resp = await w.client.post("/admin/groups", allow_redirects=False, data=[
        ("csrf_token", csrf), ("name", "Billing"), ("email", "billing@example.fr"),
        ("members", "agent1"), ("members", "agent2")])
    assert resp.status == 303 and resp.headers["Location"] == "/admin/groups?done=created"
    groups = {g.name: g for g in await app_of(w.client)[GROUPS].list_all()}
    assert groups["Billing"].members == ("agent1", "agent2")
    assert groups["Billing"].email == "billing@example.fr"
    taken = await w.client.post("/admin/groups", headers=EN, data={
        "csrf_token": csrf, "name": "billing", "email": ""})
    body = await taken.text()
    assert taken.status == 409 and "exists already" in body and 'value="billing"' in body
    resp = await w.client.post(f"/admin/groups/{groups['Billing'].id}", allow_redirects=False,
                               data=[("csrf_token", csrf), ("email", ""),
                                     ("members", "boss")])
    assert resp.status == 303
    billing = await app_of(w.client)[GROUPS].get(groups["Billing"].id)
    assert (billing.members, billing.email) == (("boss",), "")
    bad = await w.client.post(f"/admin/groups/{billing.id}", headers=EN,
                              data={"csrf_token": csrf, "email": "not-an-address"})
    assert bad.status == 400 and "is not an e-mail address" in await bad.text()
    # membership is what lets an agent see the group's private tickets
    t = await w.tickets.create("root", {"subject": "Billing only", "public": False},
                               group_id=billing.id)
    await login(w.client, "agent1")
    assert (await w.client.get(f"/tickets/{t.id}")).status == 404
