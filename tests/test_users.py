"""Users: scrypt hashes (never the password), validation naming the field, extensions, and the
``cti user`` commands as an administrator types them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.errors import Conflict, ValidationError
from cti.passwords import hash_password, needs_rehash, verify_password
from cti.store.sqlite import Store
from cti.users import UserService
from tests.web_helpers import open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path)
    yield s
    await s.close()


def test_password_hashes_are_salted_scrypt_and_verify() -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two  # a fresh salt each time
    scheme, n, r, p, salt, digest = one.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(salt) >= 21 and len(digest) >= 42  # 16- and 32-byte values, base64
    assert "correct horse" not in one
    assert verify_password("correct horse", one) and verify_password("correct horse", two)
    assert not verify_password("correct horsf", one)
    assert not needs_rehash(one)
    weak = hash_password("x" * 8).replace("scrypt$16384$", "scrypt$1024$")
    assert needs_rehash(weak)
    for broken in ("", "plain", "scrypt$16384$8$1$!!$!!", "scrypt$3$8$1$AAAA$AAAA",
                   "scrypt$1099511627776$8$1$AAAA$AAAA", "md5$1$1$1$AAAA$AAAA"):
        assert not verify_password("anything", broken)


async def test_users_are_stored_with_hashes_and_found_by_extension(store: Store) -> None:
    users = UserService(store)
    alice = await users.create("alice", "alice-password", "agent", ["1001", " 1002", "1001"],
                               display_name=" Alice ", language="fr")
    assert alice.extensions == ("1001", "1002") and alice.display_name == "Alice"
    row = await store.query_one("SELECT password_hash FROM users WHERE id = ?", (alice.id,))
    assert row is not None and "alice-password" not in row["password_hash"]
    assert verify_password("alice-password", row["password_hash"])
    assert await users.authenticate("alice", "alice-password") == alice
    assert await users.authenticate("alice", "wrong-password") is None
    assert [u.username for u in await users.for_extension("1002")] == ["alice"]
    with pytest.raises(Conflict):
        await users.create("ALICE", "other-password", "agent", ["1003"])
    changed = await users.update(alice.id, role="supervisor", extensions=[], language=None)
    assert (changed.role, changed.extensions, changed.language) == ("supervisor", (), None)
    assert changed.at_least("agent") and changed.at_least("supervisor")
    assert not changed.at_least("admin")


@pytest.mark.parametrize(("args", "field"), [
    (("bad name", "long-enough", "agent", ["1001"]), "username"),
    (("bob", "short", "agent", ["1001"]), "password"),
    (("bob", "long-enough", "king", ["1001"]), "role"),
    (("bob", "long-enough", "agent", []), "extensions"),
    (("bob", "long-enough", "agent", ["10 01"]), "extensions"),
])
async def test_bad_values_name_the_field(store: Store, args: tuple[str, str, str, list[str]],
                                         field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await UserService(store).create(*args)
    assert caught.value.field == field
    assert await store.query("SELECT * FROM users") == []


async def test_password_change_ends_sessions(store: Store) -> None:
    users = UserService(store)
    bob = await users.create("bob", "bob-password", "agent", ["1004"])
    token, _ = await users.open_session(bob, "127.0.0.1", "test")
    assert (await users.session(token)) is not None
    await users.set_password(bob.id, "new-password")
    assert await users.session(token) is None
    assert await users.authenticate("bob", "new-password") is not None


def _cti(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_user_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "users.db")
    add = _cti("user", "add", "marie", "--role", "agent", "--ext", "1001", "--ext", "1002",
               "--password-stdin", "--db", db, stdin="marie-password\n")
    assert add.returncode == 0, add.stderr
    assert "1001, 1002" in add.stdout
    dup = _cti("user", "add", "marie", "--ext", "1001", "--password-stdin", "--db", db,
               stdin="marie-password\n")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    short = _cti("user", "add", "paul", "--ext", "1003", "--password-stdin", "--db", db,
                 stdin="short\n")
    assert short.returncode == 1 and "password:" in short.stderr
    listing = _cti("user", "list", "--db", db)
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["username", "role", "extensions", "language", "active", "name"]
    assert lines[1].split()[:5] == ["marie", "agent", "1001,1002", "-", "yes"]
    assert len(lines) == 2
    passwd = _cti("user", "passwd", "marie", "--password-stdin", "--db", db,
                  stdin="another-password\n")
    assert passwd.returncode == 0, passwd.stderr
    assert _cti("user", "disable", "marie", "--db", db).returncode == 0
    assert _cti("user", "disable", "nobody", "--db", db).returncode == 1
    with sqlite3.connect(db) as conn:
        stored, active = conn.execute(
            "SELECT password_hash, active FROM users WHERE username = 'marie'").fetchone()
    assert verify_password("another-password", stored) and active == 0
