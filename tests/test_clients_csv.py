"""Client CSV import/export and vCard: what real spreadsheets look like (French Excel in cp1252
with ``;``, UTF-8 with a BOM, UTF-16 "Unicode text"), what happens to bad rows, duplicates,
dry runs and all-or-nothing imports, and the round trip through the export.

The importer is tested against an in-memory fake of its ``ClientSink`` seam, and once against
the real ``ClientDirectory`` on a real SQLite file."""

from __future__ import annotations

import codecs
import contextlib
import copy
import dataclasses
import io
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from cti.clients.bulk import DirectorySink, export_directory, vcard_of
from cti.clients.csv_io import (
    CsvFormatError,
    CsvImport,
    ImportRow,
    RowError,
    export_csv,
    sniff_delimiter,
    to_vcard,
)
from cti.clients.directory import ClientDirectory
from cti.clients.importer import import_clients, parse_mapping, run_import_cli
from cti.clients.model import Client, ClientPhone
from cti.clients.settings import ClientSettings
from cti.errors import ValidationError
from cti.store.sqlite import Store


# ---------------------------------------------------------------------------------- the fake
class FakeSink:
    """In-memory ``ClientSink``: clients as dicts, a write counter, snapshot transactions."""

    def __init__(self, refuse: str | None = None) -> None:
        self.clients: dict[int, dict[str, Any]] = {}
        self.writes = 0
        self.refuse = refuse  # create() refuses this name (a rule only the store knows)
        self._next = 1
        self.index: dict[str, int] = {}  # E.164 or e-mail → client id

    def validate(self, draft: Mapping[str, Any]) -> None:
        if not draft.get("name"):
            raise ValidationError("name", "a name is required")
        if len(draft["name"]) > 200:
            raise ValidationError("name", "at most 200 characters")

    async def find_by_phone_or_email(self, e164s: Sequence[str],
                                     emails: Sequence[str]) -> int | None:
        for key in [*e164s, *(e.lower() for e in emails)]:
            if key in self.index:
                return self.index[key]
        return None

    def _reindex(self, cid: int) -> None:
        client = self.clients[cid]
        for key in [p["e164"] for p in client["phones"] if p["e164"]] + [
                e.lower() for e in client["emails"]]:
            self.index.setdefault(key, cid)

    async def create(self, draft: Mapping[str, Any]) -> int:
        if draft["name"] == self.refuse:
            raise ValidationError("name", "refused by the store")
        cid, self._next = self._next, self._next + 1
        self.clients[cid] = copy.deepcopy(dict(draft))
        self.writes += 1
        self._reindex(cid)
        return cid

    async def update(self, client_id: Any, draft: Mapping[str, Any]) -> None:
        client = self.clients[client_id]
        client["name"] = draft["name"] or client["name"]
        client["phones"] += [p for p in draft["phones"] if p not in client["phones"]]
        client["emails"] += [e for e in draft["emails"] if e not in client["emails"]]
        self.writes += 1
        self._reindex(client_id)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        snapshot = copy.deepcopy((self.clients, self.index))
        try:
            yield
        except BaseException:
            self.clients, self.index = snapshot
            raise


def rows(text: str | bytes, **kw: Any) -> list[ImportRow | RowError]:
    return list(CsvImport(text, **kw).rows())


def good(text: str | bytes, **kw: Any) -> list[ImportRow]:
    out = rows(text, **kw)
    assert all(isinstance(r, ImportRow) for r in out), out
    return [r for r in out if isinstance(r, ImportRow)]


# ---------------------------------------------------------------------------------- headers
@pytest.mark.parametrize(("header", "field"), [
    ("Nom", "name"), ("Name", "name"), ("Nume", "name"), ("Prénom", "first_name"),
    ("Prenume", "first_name"), ("Société", "company"), ("Entreprise", "company"),
    ("Firma", "company"), ("Company", "company"), ("Téléphone", "phone"),
    ("Telefon", "phone"), ("Tél.", "phone"), ("Portable", "phone_mobile"),
    ("Mobil", "phone_mobile"), ("Mobile phone", "phone_mobile"), ("GSM", "phone_mobile"),
    ("Tél. bureau", "phone_work"), ("Telefon serviciu", "phone_work"),
    ("Domicile", "phone_home"), ("Home Phone", "phone_home"), ("Fax", "phone_fax"),
    ("E-mail", "email"), ("Courriel", "email"), ("Adresă", "address"), ("Adresse", "address"),
    ("Code postal", "postcode"), ("Ville", "city"), ("Oraș", "city"), ("Étiquettes", "tags"),
    ("Commentaire", "notes"), ("Observații", "notes"), ("Type de client", "type"),
    ("Tip client", "type"), ("phone_mobile", "phone_mobile"),
])
def test_headers_are_recognised_in_french_english_and_romanian(header: str, field: str) -> None:
    imp = CsvImport(f"Nom;{header}\nX;Y\n") if header != "Nom" else CsvImport("Nom\nX\n")
    assert field in imp.columns.values()
    assert imp.columns[len(imp.header) - 1] == field


def test_unknown_headers_are_reported_as_ignored_not_guessed() -> None:
    imp = CsvImport("Nom,Chiffre d'affaires,Téléphone\nDupont,12000,0612345678\n")
    assert imp.ignored == ["Chiffre d'affaires"]
    (row,) = good("Nom,Chiffre d'affaires,Téléphone\nDupont,12000,0612345678\n")
    assert "12000" not in repr(row.draft)


def test_nom_beside_prenom_is_the_family_name() -> None:
    (row,) = good("Nom;Prénom;Société\nDupont;Marie;ACME\n")
    assert row.draft["name"] == "Marie Dupont"
    assert row.draft["company"] == "ACME"
    assert row.draft["kind"] == "person"


def test_a_row_with_only_a_company_is_a_company() -> None:
    (row,) = good("Nom;Société;Téléphone\n;ACME SA;01 23 45 67 89\n")
    assert (row.draft["name"], row.draft["kind"], row.draft["company"]) == (
        "ACME SA", "company", "")


# ---------------------------------------------------------------------------------- mapping
def test_explicit_mapping_overrides_and_completes_the_guess() -> None:
    text = "Client,Col B,Tel,Numéro interne\nMarie Dupont,06 12 34 56 78,01 23 45 67 89,42\n"
    mapping = parse_mapping(["Col B=phone_mobile", "Tel=ignore", "Numéro interne=notes"])
    (row,) = good(text, mapping=mapping)
    assert row.draft["name"] == "Marie Dupont"
    assert [(p["label"], p["e164"]) for p in row.draft["phones"]] == [
        ("mobile", "+33612345678")]
    assert row.draft["notes"] == "42"


def test_mapping_errors_name_the_column_or_field() -> None:
    with pytest.raises(CsvFormatError, match="'Missing'"):
        CsvImport("Nom\nX\n", mapping={"Missing": "name"})
    with pytest.raises(CsvFormatError, match="unknown field 'telephone'"):
        CsvImport("Nom,Tel\nX,1\n", mapping={"Tel": "telephone"})
    with pytest.raises(ValueError, match="COLUMN=FIELD"):
        parse_mapping(["phone_mobile"])
    with pytest.raises(CsvFormatError, match="no column for a name"):
        CsvImport("Chiffre,Montant\n1,2\n")
    with pytest.raises(CsvFormatError, match="empty"):
        CsvImport(b"\n\n")


# ---------------------------------------------------------------------------------- delimiters
@pytest.mark.parametrize("delim", [",", ";", "\t"])
def test_delimiter_is_detected_and_quoted_cells_keep_the_others(delim: str) -> None:
    header = delim.join(["Nom", "Téléphone", "Notes", "Tags"])
    line = delim.join(["Dupont", "06 12 34 56 78", '"a, b; c\tand more"', '"x,y"'])
    text = f"{header}\n{line}\n"
    assert sniff_delimiter(text) == delim
    (row,) = good(text)
    assert row.draft["notes"] == "a, b; c\tand more"
    assert row.draft["tags"] == ["x", "y"]
    assert row.draft["phones"][0]["e164"] == "+33612345678"


# ---------------------------------------------------------------------------------- encodings
FRENCH = "Nom;Société;Téléphone;Notes\nHélène Dupré;Société Générale;06 12 34 56 78;€ payé\n"


@pytest.mark.parametrize(("data", "encoding"), [
    (FRENCH.encode("cp1252"), "cp1252"),
    (codecs.BOM_UTF8 + FRENCH.encode("utf-8"), "utf-8-sig"),
    (FRENCH.encode("utf-8"), "utf-8"),
    (FRENCH.replace(";", "\t").encode("utf-16"), "utf-16"),  # Excel "Unicode text"
])
def test_encodings_of_real_exports(data: bytes, encoding: str) -> None:
    imp = CsvImport(data)
    assert imp.encoding == encoding
    (row,) = [r for r in imp.rows() if isinstance(r, ImportRow)]
    assert row.draft["name"] == "Hélène Dupré"
    assert row.draft["company"] == "Société Générale"
    assert row.draft["notes"] == "€ payé"
    assert imp.header[0] == "Nom"  # no BOM glued to the first header


# ---------------------------------------------------------------------------------- rows
def test_bad_rows_name_their_line_and_reason_and_good_ones_survive() -> None:
    text = ("Nom;Téléphone;E-mail;Type;Notes\n"
            "Dupont;06 12 34 56 78;m@ex.fr;client;\n"
            ";;;;nobody\n"
            'Martin;01 23 45 67 89;;vip;"two\nlines"\n'
            "Durand;;pas-un-mail;;\n"
            "\n"
            "Petit;;;cousin;\n"
            "Leroy;06 98 76 54 32;a@b.fr, c@d.fr;fournisseur;\n")
    out = rows(text)
    errors = [r for r in out if isinstance(r, RowError)]
    assert [(e.line, e.field) for e in errors] == [(3, "name"), (6, "email"), (8, "type")]
    assert "no name and no phone" in errors[0].reason
    assert "pas-un-mail" in errors[1].reason
    assert "cousin" in errors[2].reason and "supplier" in errors[2].reason
    ok = [r for r in out if isinstance(r, ImportRow)]
    assert [r.line for r in ok] == [2, 4, 9]  # the quoted newline makes row 4 two lines long
    assert ok[2].draft["type"] == "supplier"  # French type word
    assert ok[2].draft["emails"] == ["a@b.fr", "c@d.fr"]


def test_garbage_phone_is_kept_raw_and_flagged_and_the_row_imports() -> None:
    text = ("Nom;Téléphone;Portable\n"
            "Dupont;06 12 34 5;06 12 34 56 78 / 07 81 22 33 44\n"
            "Martin;voir secrétariat;Masqué\n")
    one, two = good(text)
    assert [(p["raw"], p["e164"], p["status"]) for p in one.draft["phones"]] == [
        ("06 12 34 5", None, "invalid"),
        ("06 12 34 56 78", "+33612345678", "valid"),
        ("07 81 22 33 44", "+33781223344", "valid"),
    ]
    assert one.warnings == ("phone '06 12 34 5' is invalid: kept as written",)
    assert two.draft["phones"] == []
    assert two.draft["notes"] == "phone: voir secrétariat"  # text is never lost
    assert len(two.warnings) == 2


def test_no_name_but_a_valid_number_is_named_after_it_and_garbage_alone_is_an_error() -> None:
    out = rows("Nom;Téléphone\n;06 12 34 56 78\n;abc12\n")
    assert isinstance(out[0], ImportRow) and out[0].draft["name"] == "+33 6 12 34 56 78"
    assert isinstance(out[1], RowError)
    assert out[1].reason == "no name and no usable phone number"


async def test_garbage_phone_row_is_imported_with_its_raw_number() -> None:
    sink = FakeSink()
    report = await import_clients(CsvImport("Nom;Téléphone\nDupont;06 12 34 5\n"), sink)
    assert (report.imported, report.errors) == (1, [])
    assert report.warnings == [(2, "phone '06 12 34 5' is invalid: kept as written")]
    assert sink.clients[1]["phones"][0]["raw"] == "06 12 34 5"


# ---------------------------------------------------------------------------------- 10,000 rows
def big_csv(n: int, bad_every: int, seed: int = 7) -> tuple[bytes, dict[int, str]]:
    """``n`` rows in French Excel style (cp1252, ``;``), a bad one every ``bad_every`` rows,
    cycling through the kinds of mistakes; returns the bytes and {line: expected field}."""
    rnd = random.Random(seed)
    out = ["Nom;Prénom;Société;Portable;E-mail;Type"]
    bad: dict[int, str] = {}
    kinds = ["name", "email", "type"]
    for i in range(n):
        line = i + 2
        hundreds, units = divmod(i, 100)  # unique per row: no accidental duplicates
        mobile = f"06 {hundreds:02d} {units:02d} {rnd.randint(10, 99)} {rnd.randint(10, 99)}"
        if i % bad_every == bad_every - 1:
            kind = kinds[len(bad) % 3]
            bad[line] = kind
            if kind == "name":
                out.append(";;;;;client")
            elif kind == "email":
                out.append(f"Nom{i};Élodie;ACME;{mobile};pas un mail@;client")
            else:
                out.append(f"Nom{i};Élodie;ACME;{mobile};e{i}@ex.fr;martien")
        else:
            out.append(f"Nom{i};Élodie;Société {i % 50};{mobile};e{i}@ex.fr;prospect")
    return ("\r\n".join(out) + "\r\n").encode("cp1252"), bad


async def test_ten_thousand_rows_with_three_percent_bad_import_the_good_ones() -> None:
    data, bad = big_csv(10_000, bad_every=33)
    assert 290 <= len(bad) <= 310  # ~3 %
    sink = FakeSink()
    seen: list[tuple[int, int]] = []
    report = await import_clients(CsvImport(data), sink,
                                  progress=lambda done, total: seen.append((done, total)))
    assert report.total == 10_000
    assert report.imported == 10_000 - len(bad) == len(sink.clients)
    assert {e.line: e.field for e in report.errors} == bad
    assert all(e.reason for e in report.errors)
    assert seen[-1] == (10_000, 10_000) and len(seen) == 10_000
    assert next(iter(sink.clients.values()))["name"] == "Élodie Nom0"


async def test_dry_run_writes_nothing_but_reports_what_would_happen() -> None:
    data, bad = big_csv(300, bad_every=10)
    sink = FakeSink()
    report = await import_clients(CsvImport(data), sink, dry_run=True)
    assert sink.writes == 0 and sink.clients == {}
    assert report.dry_run and report.imported == 300 - len(bad)
    assert len(report.errors) == len(bad)
    assert "would be imported" in report.summary()


async def test_all_or_nothing_imports_nothing_when_any_row_is_bad() -> None:
    data, bad = big_csv(200, bad_every=100)
    sink = FakeSink()
    report = await import_clients(CsvImport(data), sink, all_or_nothing=True)
    assert sink.writes == 0 and sink.clients == {}
    assert report.rolled_back and report.imported == 0
    assert {e.line for e in report.errors} == set(bad)
    clean_data, _ = big_csv(150, bad_every=1000)
    report = await import_clients(CsvImport(clean_data), sink, all_or_nothing=True)
    assert not report.rolled_back and report.imported == 150 == len(sink.clients)


async def test_all_or_nothing_undoes_the_writes_when_the_store_refuses_a_row() -> None:
    text = "Nom;Téléphone\nAlpha;0612345678\nBeta;0611111111\nGamma;0622222222\n"
    sink = FakeSink(refuse="Beta")
    report = await import_clients(CsvImport(text), sink, all_or_nothing=True)
    assert report.rolled_back and sink.clients == {}
    assert [(e.line, e.reason) for e in report.errors] == [(3, "refused by the store")]
    sink = FakeSink(refuse="Beta")  # without the option, the others go in
    report = await import_clients(CsvImport(text), sink)
    assert report.imported == 2 and [c["name"] for c in sink.clients.values()] == [
        "Alpha", "Gamma"]


# ---------------------------------------------------------------------------------- duplicates
DUPS = ("Nom;Téléphone;E-mail\n"
        "Dupont;06 12 34 56 78;marie@ex.fr\n"
        "Dupont bis;+33 6 12 34 56 78;\n"      # same number, other spelling: line 2's
        "Martin;01 23 45 67 89;MARIE@EX.FR\n"  # same e-mail, other case: line 2's
        "Durand;07 00 00 00 01;\n"
        "Existing;;paul@ex.fr\n")              # e-mail of a client already in the store


async def existing_sink() -> FakeSink:
    sink = FakeSink()
    await sink.create({"name": "Paul", "phones": [], "emails": ["paul@ex.fr"]})
    sink.writes = 0
    return sink


async def test_duplicates_within_the_file_and_against_the_store_are_skipped() -> None:
    sink = await existing_sink()
    report = await import_clients(CsvImport(DUPS), sink)
    assert (report.imported, report.skipped, report.updated) == (2, 3, 0)
    assert [(d.line, d.key, d.of_line, d.existing_id) for d in report.duplicates] == [
        (3, "+33612345678", 2, 2), (4, "marie@ex.fr", 2, 2), (6, "paul@ex.fr", None, 1)]
    assert sorted(c["name"] for c in sink.clients.values()) == ["Dupont", "Durand", "Paul"]


async def test_on_duplicate_update_and_create() -> None:
    sink = await existing_sink()
    report = await import_clients(CsvImport(DUPS), sink, on_duplicate="update")
    assert (report.imported, report.updated, report.skipped) == (2, 3, 0)
    assert sink.clients[1]["name"] == "Existing"  # the store's client got the row's values
    assert {p["raw"] for p in sink.clients[2]["phones"]} == {  # lines 3 and 4 completed it
        "06 12 34 56 78", "+33 6 12 34 56 78", "01 23 45 67 89"}
    sink = await existing_sink()
    report = await import_clients(CsvImport(DUPS), sink, on_duplicate="create")
    assert (report.imported, report.updated, report.skipped) == (5, 0, 0)
    assert len(sink.clients) == 6 and len(report.duplicates) == 3


async def test_dry_run_still_finds_duplicates_within_the_file() -> None:
    sink = await existing_sink()
    report = await import_clients(CsvImport(DUPS), sink, dry_run=True, on_duplicate="update")
    assert sink.writes == 0
    assert [(d.line, d.existing_id, d.action) for d in report.duplicates] == [
        (3, None, "updated"), (4, None, "updated"), (6, 1, "updated")]


# ---------------------------------------------------------------------------------- export
def client(cid: int, name: str, **kw: Any) -> Client:
    base: dict[str, Any] = dict(
        id=cid, kind="person", name=name, company_id=None, type="client", tags=(),
        emails=(), address="", notes="", owner=None, visibility="public", auto_created=False,
        phones=(), created_at=0.0, updated_at=0.0)
    base.update(kw)
    return Client(**base)


CLIENTS = [
    client(1, "Hélène Dupré", company_id=3, tags=("vip client", "Paris"),
           emails=("helene@ex.fr", "h.dupre@ex.com"), address="12, rue de l'Église\n75001 Paris",
           notes='Rappeler "après" 14h; =SUM(A1) -- sans faute',
           phones=(ClientPhone("mobile", "06 12 34 56 78", "+33612345678", "valid"),
                   ClientPhone("work", "01 23 45 67 89", "+33123456789", "valid"),
                   ClientPhone("fax", "01 23 45 67 90", "+33123456790", "valid"),
                   ClientPhone("other", "06 12 34 5", None, "invalid")),
           type="vip"),
    client(2, "Ion Popescu", phones=(ClientPhone("home", "0721 234 567", "+40721234567",
                                                 "valid"),), type="prospect"),
    client(3, "Société Générale", kind="company", type="supplier", notes="-"),
]


@pytest.mark.parametrize("delim", [",", ";"])
def test_export_imports_back_to_the_same_clients(delim: str) -> None:
    text = export_csv(CLIENTS, delimiter=delim, company_names={3: "Société Générale"})
    assert text.startswith("\ufeff") and "\r\n" in text
    data = text.encode("utf-8")  # as written to disk
    imp = CsvImport(data)
    assert imp.delimiter == delim and imp.encoding == "utf-8-sig"
    assert "id" in imp.ignored
    back = [r.draft for r in imp.rows() if isinstance(r, ImportRow)]
    assert len(back) == 3
    for orig, draft in zip(CLIENTS, back, strict=True):
        assert draft["name"] == orig.name
        assert draft["kind"] == orig.kind
        assert draft["type"] == orig.type
        assert draft["emails"] == list(orig.emails)
        assert draft["tags"] == list(orig.tags)
        assert draft["address"] == orig.address
        assert draft["notes"] == orig.notes
        assert sorted((p["label"], p["e164"] or p["raw"]) for p in draft["phones"]) == sorted(
            (p.label, p.e164 or p.raw) for p in orig.phones)
    assert back[0]["company"] == "Société Générale"


def test_export_quotes_formula_cells_but_not_phone_numbers() -> None:
    text = export_csv(CLIENTS[:1], bom=False)
    assert "+33612345678" in text and "'+33612345678" not in text
    assert "'=SUM" not in text  # only a cell *starting* with = is at risk…
    text = export_csv([client(9, "=HYPERLINK(\"http://evil\")")], bom=False)
    assert "\"'=HYPERLINK(\"\"http://evil\"\")\"" in text
    (row,) = good(text)  # and the import takes the quote off again
    assert row.draft["name"] == '=HYPERLINK("http://evil")'


# ---------------------------------------------------------------------------------- vCard
def unfold(card: str) -> list[str]:
    assert all(len(line.encode()) <= 75 for line in card.split("\r\n"))
    return card.replace("\r\n ", "").split("\r\n")


def test_vcard_of_a_person() -> None:
    card = to_vcard(CLIENTS[0], company="Société Générale")
    assert card.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n") and card.endswith("END:VCARD\r\n")
    lines = unfold(card)
    assert "FN:Hélène Dupré" in lines
    assert "N:Dupré;Hélène;;;" in lines
    assert "ORG:Société Générale" in lines
    assert "TEL;TYPE=CELL,VOICE,PREF:+33612345678" in lines
    assert "TEL;TYPE=WORK,VOICE:+33123456789" in lines
    assert "TEL;TYPE=WORK,FAX:+33123456790" in lines
    assert "TEL;TYPE=VOICE:06 12 34 5" in lines
    assert "EMAIL;TYPE=INTERNET,PREF:helene@ex.fr" in lines
    assert "EMAIL;TYPE=INTERNET:h.dupre@ex.com" in lines
    assert "ADR;TYPE=WORK:;;12\\, rue de l'Église\\n75001 Paris;;;;" in lines
    assert "CATEGORIES:vip client,Paris" in lines
    assert 'NOTE:Rappeler "après" 14h\\; =SUM(A1) -- sans faute' in lines
    assert "UID:cti-client-1" in lines


def test_vcard_of_a_company_and_line_folding() -> None:
    long_note = "Créée en 1864 — " * 20 + "fin"
    card = to_vcard(client(3, "Société Générale", kind="company", notes=long_note))
    lines = unfold(card)
    assert "N:;;;;" in lines and "ORG:Société Générale" in lines
    assert "X-ABShowAs:COMPANY" in lines
    assert f"NOTE:{long_note}" in lines
    physical = card.split("\r\n")
    assert sum(1 for line in physical if line.startswith(" ")) >= 5
    card.encode("utf-8").decode("utf-8")  # no UTF-8 sequence cut by a fold


# ---------------------------------------------------------------------------------- the CLI
async def test_run_import_cli_prints_errors_and_summary(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_bytes("Nom;Tel;E-mail\nDupont;0612345678;x\nMartin;0611111111;\n".encode("cp1252"))
    out = io.StringIO()
    sink = FakeSink()
    status = await run_import_cli(path, sink, mapping=["Tel=phone_mobile"], out=out,
                                  progress=False)
    text = out.getvalue()
    assert status == 1
    assert "line 2: email: invalid e-mail address 'x'" in text
    assert "2 rows: 1 was imported" in text
    assert "Tel → phone_mobile" in text
    assert len(sink.clients) == 1
    err = io.StringIO()
    assert await run_import_cli(path, sink, mapping=["Nope=name"], err=err) == 2
    assert await run_import_cli(tmp_path / "missing.csv", sink, err=err) == 2
    assert await run_import_cli(path, sink, encoding="klingon", err=err) == 2
    assert err.getvalue().splitlines()[0].startswith("cti clients import: file error: mapped "
                                                     "column 'Nope'")
    assert "option error: unknown encoding: klingon" in err.getvalue()
    assert len(sink.clients) == 1


# ---------------------------------------------------------------------------------- real store
@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[ClientDirectory]:
    store = await Store.open(tmp_path / "x.db")
    yield ClientDirectory(store, ClientSettings())
    await store.close()


REAL = ("Nom;Prénom;Société;Portable;Tél. bureau;E-mail;Type;Étiquettes\n"
        "Dupont;Marie;ACME;06 12 34 56 78;01 23 45 67 89;marie@acme.fr;client;vip, Paris\n"
        "Martin;Paul;acme;06 98 76 54 32;;paul@acme.fr;prospect;\n"
        "Durand;Luc;;06 12 34 5;;;fournisseur;\n"           # garbage number, kept raw
        "Bad;;;;;pas-un-mail;;\n"                           # row error
        "Dupont;Marie;;+33 6 12 34 56 78;;marie@home.fr;;\n"  # duplicate of line 2 (number)
        "Petit;Anne;;0611111111;;ANNE@EX.FR;;\n")           # duplicate of a stored e-mail


async def test_import_into_the_real_directory(directory: ClientDirectory) -> None:
    anne = await directory.create({"name": "Anne Petit", "emails": ["anne@ex.fr"]})
    sink = DirectorySink(directory, owner="admin")
    dry = await import_clients(CsvImport(REAL), sink, dry_run=True, on_duplicate="update")
    assert await directory.count() == 1  # the dry run wrote nothing
    report = await import_clients(CsvImport(REAL), sink, on_duplicate="update")
    assert (dry.imported, dry.updated) == (report.imported, report.updated) == (3, 2)
    assert [(e.line, e.field) for e in report.errors] == [(5, "email")]
    marie = (await directory.search("Marie Dupont"))[0]
    assert [(p.label, p.e164) for p in marie.phones] == [
        ("mobile", "+33612345678"), ("work", "+33123456789")]
    assert marie.emails == ("marie@acme.fr", "marie@home.fr")  # completed by line 6
    assert marie.tags == ("vip", "Paris") and marie.type == "client" and marie.owner == "admin"
    acme = await directory.get(marie.company_id or 0)
    assert (acme.kind, acme.name) == ("company", "ACME")
    paul = (await directory.search("Paul Martin"))[0]
    assert paul.company_id == acme.id  # "acme" found the same company, not a second one
    luc = (await directory.search("Luc Durand"))[0]
    assert [(p.raw, p.e164, p.status) for p in luc.phones] == [("06 12 34 5", None, "invalid")]
    assert luc.type == "supplier"
    anne_now = await directory.get(anne.id)
    assert [p.e164 for p in anne_now.phones] == ["+33611111111"]
    assert await directory.count() == 5  # Anne, ACME, Marie, Paul, Luc
    matches = await directory.match("0612345678")
    assert [m.client.id for m in matches] == [marie.id]


async def test_real_directory_all_or_nothing_undoes_writes(directory: ClientDirectory) -> None:
    keep = await directory.create({"name": "Keep", "phones": ["0699999999"]})
    sink = DirectorySink(directory)
    with pytest.raises(RuntimeError):
        async with sink.transaction():
            await sink.create({"name": "New", "kind": "person", "company": "NewCo",
                               "phones": [{"raw": "0612345678", "label": "mobile",
                                           "e164": "+33612345678"}]})
            await sink.update(keep.id, {"name": "Changed", "emails": ["k@ex.fr"],
                                        "phones": []})
            assert await directory.count() == 3
            raise RuntimeError("disk full")
    assert await directory.count() == 1
    restored = await directory.get(keep.id)
    assert dataclasses.replace(restored, updated_at=keep.updated_at) == keep
    report = await import_clients(CsvImport(REAL), sink, all_or_nothing=True)
    assert report.rolled_back and await directory.count() == 1


async def test_directory_export_imports_back_into_an_empty_directory(
        directory: ClientDirectory, tmp_path: Path) -> None:
    await import_clients(CsvImport(REAL), DirectorySink(directory))
    text = await export_directory(directory, delimiter=";")
    assert text.startswith("\ufeff") and text.count("\r\n") == 1 + await directory.count()
    marie = (await directory.search("Marie Dupont"))[0]
    card = await vcard_of(directory, marie.id)
    assert "ORG:ACME" in card and "TEL;TYPE=CELL,VOICE,PREF:+33612345678" in card
    only_vip = await export_directory(directory, tag="vip")
    assert only_vip.count("\r\n") == 2 and ",ACME," in only_vip  # company outside the filter

    store = await Store.open(tmp_path / "copy.db")
    try:
        copy_dir = ClientDirectory(store, ClientSettings())
        report = await import_clients(CsvImport(text.encode()), DirectorySink(copy_dir))
        assert report.errors == [] and report.imported == await directory.count()
        assert await cards(copy_dir) == await cards(directory)
    finally:
        await store.close()


async def test_a_company_row_after_its_members_completes_the_company_they_created(
        directory: ClientDirectory) -> None:
    text = ("name;kind;company;phone_work;notes\n"
            "Anne Zed;person;Zeta SA;0611111111;\n"
            "Zeta SA;company;;01 23 45 67 89;HQ\n"
            "Bob Zed;person;zeta sa;0622222222;\n")
    report = await import_clients(CsvImport(text), DirectorySink(directory))
    assert report.imported == 3 and report.errors == []
    (zeta,) = [c for c in await directory.search("Zeta") if c.kind == "company"]
    assert (zeta.notes, [p.e164 for p in zeta.phones]) == ("HQ", ["+33123456789"])
    members = await directory.search(company_id=zeta.id)
    assert sorted(c.name for c in members) == ["Anne Zed", "Bob Zed"]
    assert await directory.count() == 3


async def cards(d: ClientDirectory) -> list[tuple[Any, ...]]:
    """Every client as the values an export carries (ids and stamps differ between stores)."""
    out = []
    for c in await d.search(limit=500):
        company = "" if c.company_id is None else (await d.get(c.company_id)).name
        out.append((c.name, c.kind, c.type, c.emails, c.tags, c.address, c.notes, company,
                    tuple((p.label, p.e164 or p.raw) for p in c.phones)))
    return sorted(out)
