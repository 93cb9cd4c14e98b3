"""People who log in to the web UI: accounts, roles, extensions, passwords and sessions.

Why it is built this way:

* **Roles are ordered** — ``agent`` < ``supervisor`` < ``admin``: a supervisor does everything an
  agent does, and more. A check therefore asks for a *minimum* role (:meth:`User.at_least`),
  which cannot forget to list ``admin`` next to ``supervisor``.
* **Passwords** are scrypt hashes (:mod:`cti.passwords`), computed in a worker thread: one
  costs ~50 ms and 16 MiB, and a login must never stall the screen pops.
* **Unknown usernames cost the same as wrong passwords**: :meth:`UserService.authenticate`
  verifies against a dummy hash, so response times do not reveal which accounts exist.
* **Sessions are server-side**: the cookie holds 32 random bytes, the database only their
  SHA-256, so logging out, disabling a user or a stolen backup all end the session for real.
  A session has a hard expiry (``web.session_hours``) counted from login.
* All writes go through ``Store.transaction`` (the store's one writer), reads through
  ``Store.query`` (its read connection): this module never touches the database driver.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cti.errors import Conflict, NotFound, ValidationError
from cti.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from cti.store.sqlite import Store
from cti.store.tx import Tx

ROLES: tuple[str, ...] = ("agent", "supervisor", "admin")
LANGUAGES: tuple[str, ...] = ("fr", "en")

MIN_PASSWORD, MAX_PASSWORD = 8, 1024  # the cap stops a megabyte "password" costing CPU
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_EXTENSION = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
#: Deliberately loose (what an admin types is checked by the mail server, not by us) but strict
#: where it matters: one line, no spaces, no header-breaking characters, one "@", a dotted domain.
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\".]+(\.[^@\s<>,;\".]+)+$")
MAX_EMAIL = 254  # RFC 5321's longest path
TOUCH_EVERY = 60.0  # seconds: last_seen is for humans, not worth a write per request


# --------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: str
    extensions: tuple[str, ...]
    display_name: str = ""
    language: str | None = None
    timezone: str | None = None
    active: bool = True
    created_at: float = 0.0
    email: str = ""  # "" when unknown: no mail notifications

    def at_least(self, role: str) -> bool:
        """True when this user's role is ``role`` or above (agent < supervisor < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                "role": self.role, "extensions": list(self.extensions),
                "language": self.language, "timezone": self.timezone, "active": self.active,
                "email": self.email}


@dataclass(frozen=True, slots=True)
class UserSession:
    id: str  # sha256 of the cookie token
    user: User
    csrf_token: str
    created_at: float
    last_seen_at: float
    expires_at: float
    ip: str
    user_agent: str


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- validation
def check_username(username: str) -> str:
    if not _USERNAME.match(username):
        raise ValidationError("username", "1 to 64 letters, digits or . _ @ -, starting with "
                                          "a letter or digit")
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError("password", f"between {MIN_PASSWORD} and {MAX_PASSWORD} "
                                          "characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError("role", f"one of {', '.join(ROLES)}")
    return role


def check_extensions(extensions: Iterable[str], role: str) -> tuple[str, ...]:
    exts = tuple(dict.fromkeys(e.strip() for e in extensions))
    for ext in exts:
        if not _EXTENSION.match(ext):
            raise ValidationError("extensions", f"{ext!r} is not an extension")
    if role == "agent" and not exts:
        raise ValidationError("extensions", "an agent needs at least one extension")
    return exts


def check_language(language: str | None) -> str | None:
    if language is not None and language not in LANGUAGES:
        raise ValidationError("language", f"one of {', '.join(LANGUAGES)}")
    return language


def check_email(email: str) -> str:
    """An address for notifications, or "" for none. CR/LF and anything beyond one plain
    address are refused: this text ends up in a mail header."""
    email = email.strip()
    if not email:
        return ""
    if (len(email) > MAX_EMAIL or not _EMAIL.match(email)
            or any(ord(c) < 32 or ord(c) == 127 for c in email)):
        raise ValidationError("email", "is not an e-mail address (name@example.com)")
    return email


def check_timezone(timezone: str | None) -> str | None:
    if timezone is None:
        return None
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("timezone", f"{timezone!r} is not an IANA time zone") from None
    return timezone


_USER_SQL = """
SELECT u.*, (SELECT group_concat(extension, ' ') FROM user_extensions e
             WHERE e.user_id = u.id) AS exts
FROM users u
"""


def _user(row: Mapping[str, Any]) -> User:
    exts = tuple(sorted((row["exts"] or "").split()))
    return User(id=int(row["id"]), username=row["username"], role=row["role"],
                extensions=exts, display_name=row["display_name"], language=row["language"],
                timezone=row["timezone"], active=bool(row["active"]),
                created_at=float(row["created_at"]), email=row["email"])


# --------------------------------------------------------------------------- the service
class _Keep:
    """Type of :data:`KEEP`: "leave this field as it is" where None means "clear it"."""


KEEP = _Keep()


class UserService:
    """Accounts and sessions over the shared store."""

    def __init__(self, store: Store, *, session_hours: float = 12.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.session_hours = session_hours
        self.clock = clock

    # ---------------------------------------------------------------- accounts
    async def create(self, username: str, password: str, role: str = "agent",
                     extensions: Iterable[str] = (), *, display_name: str = "",
                     language: str | None = None, timezone: str | None = None,
                     email: str = "") -> User:
        """A new active user. Raises ValidationError naming the field, or Conflict when the
        username (any case) is taken."""
        check_username(username)
        email = check_email(email)
        check_password(password)
        check_role(role)
        exts = check_extensions(extensions, role)
        check_language(language)
        check_timezone(timezone)
        hashed = await asyncio.to_thread(hash_password, password)
        now = self.clock()

        async def work(tx: Tx) -> int:
            if await tx.fetch("SELECT 1 FROM users WHERE username = ?", (username,)):
                raise Conflict(f"user {username!r} already exists")
            uid = await tx.execute(
                "INSERT INTO users (username, display_name, role, password_hash, language, "
                "timezone, email, active, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (username, display_name.strip(), role, hashed, language, timezone, email, now,
                 now))
            await tx.executemany("INSERT INTO user_extensions (user_id, extension) VALUES (?, ?)",
                                 [(uid, e) for e in exts])
            return uid

        uid = await self.store.transaction(work)
        return await self._must_get(uid)

    async def get(self, user_id: int) -> User | None:
        row = await self.store.query_one(_USER_SQL + " WHERE u.id = ?", (user_id,))
        return None if row is None else _user(row)

    async def get_by_username(self, username: str) -> User | None:
        row = await self.store.query_one(_USER_SQL + " WHERE u.username = ?", (username,))
        return None if row is None else _user(row)

    async def list_all(self) -> list[User]:
        return [_user(r) for r in await self.store.query(_USER_SQL + " ORDER BY u.username")]

    async def for_extension(self, extension: str) -> list[User]:
        """Active users bound to ``extension`` (who should see a pop when it rings)."""
        rows = await self.store.query(
            _USER_SQL + " WHERE u.active = 1 AND u.id IN "
            "(SELECT user_id FROM user_extensions WHERE extension = ?) ORDER BY u.username",
            (extension,))
        return [_user(r) for r in rows]

    async def update(self, user_id: int, *, role: str | None = None,
                     extensions: Iterable[str] | None = None, display_name: str | None = None,
                     language: str | _Keep | None = KEEP,
                     timezone: str | _Keep | None = KEEP, email: str | None = None) -> User:
        """Change some fields (``KEEP`` leaves language/timezone alone, None clears them;
        ``email=None`` leaves the address alone, "" clears it)."""
        user = await self._must_get(user_id)
        new_role = check_role(role) if role is not None else user.role
        exts = check_extensions(user.extensions if extensions is None else extensions, new_role)
        lang = user.language if isinstance(language, _Keep) else check_language(language)
        tz = user.timezone if isinstance(timezone, _Keep) else check_timezone(timezone)
        name = user.display_name if display_name is None else display_name.strip()
        address = user.email if email is None else check_email(email)

        async def work(tx: Tx) -> None:
            await tx.execute(
                "UPDATE users SET role = ?, display_name = ?, language = ?, timezone = ?, "
                "email = ?, updated_at = ? WHERE id = ?",
                (new_role, name, lang, tz, address, self.clock(), user_id))
            await tx.execute("DELETE FROM user_extensions WHERE user_id = ?", (user_id,))
            await tx.executemany("INSERT INTO user_extensions (user_id, extension) VALUES (?, ?)",
                                 [(user_id, e) for e in exts])

        await self.store.transaction(work)
        return await self._must_get(user_id)

    async def set_password(self, user_id: int, password: str) -> None:
        """New password; every session of the user ends (a reset must lock out a thief)."""
        check_password(password)
        await self._must_get(user_id)
        hashed = await asyncio.to_thread(hash_password, password)

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
                             (hashed, self.clock(), user_id))
            await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

        await self.store.transaction(work)

    async def set_active(self, user_id: int, active: bool) -> User:
        """Enable or disable; disabling ends every session of the user at once."""
        await self._must_get(user_id)

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE users SET active = ?, updated_at = ? WHERE id = ?",
                             (int(active), self.clock(), user_id))
            if not active:
                await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

        await self.store.transaction(work)
        return await self._must_get(user_id)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The active user with these credentials, else None (same cost either way)."""
        row = None
        if _USERNAME.match(username) and len(password) <= MAX_PASSWORD:
            row = await self.store.query_one(
                "SELECT id, password_hash, active FROM users WHERE username = ?", (username,))
        stored = await asyncio.to_thread(dummy_hash) if row is None else str(row["password_hash"])
        ok = await asyncio.to_thread(verify_password, password[:MAX_PASSWORD], stored)
        if row is None or not ok or not row["active"]:
            return None
        if needs_rehash(stored):
            await self.set_password_hash(int(row["id"]), password)
        return await self.get(int(row["id"]))

    async def set_password_hash(self, user_id: int, password: str) -> None:
        """Re-hash with today's costs, keeping sessions (used after a successful login)."""
        hashed = await asyncio.to_thread(hash_password, password)

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hashed, user_id))

        await self.store.transaction(work)

    async def _must_get(self, user_id: int) -> User:
        user = await self.get(user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        return user

    # ---------------------------------------------------------------- sessions
    async def open_session(self, user: User, ip: str, user_agent: str) -> tuple[str, UserSession]:
        """A new session: returns the cookie token (shown once, stored only hashed)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        sess = UserSession(id=session_id(token), user=user, csrf_token=secrets.token_urlsafe(32),
                           created_at=now, last_seen_at=now,
                           expires_at=now + self.session_hours * 3600.0, ip=ip[:64],
                           user_agent=user_agent[:300])

        async def work(tx: Tx) -> None:
            await tx.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            await tx.execute(
                "INSERT INTO sessions (id, user_id, csrf_token, created_at, last_seen_at, "
                "expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sess.id, user.id, sess.csrf_token, now, now, sess.expires_at, sess.ip,
                 sess.user_agent))

        await self.store.transaction(work)
        return token, sess

    async def session(self, token: str) -> UserSession | None:
        """The live session for a cookie token: unexpired, of an active user; else None."""
        if not token or len(token) > 128:
            return None
        row = await self.store.query_one(
            "SELECT s.id AS sid, s.csrf_token, s.created_at AS s_created, s.last_seen_at, "
            "s.expires_at, s.ip, s.user_agent, u.*, (SELECT group_concat(extension, ' ') "
            "FROM user_extensions e WHERE e.user_id = u.id) AS exts "
            "FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.id = ? AND s.expires_at > ? AND u.active = 1",
            (session_id(token), self.clock()))
        if row is None:
            return None
        return UserSession(id=row["sid"], user=_user(row), csrf_token=row["csrf_token"],
                           created_at=row["s_created"], last_seen_at=row["last_seen_at"],
                           expires_at=row["expires_at"], ip=row["ip"],
                           user_agent=row["user_agent"])

    async def touch(self, sess: UserSession) -> None:
        """Record activity, at most once a minute per session."""
        now = self.clock()
        if now - sess.last_seen_at < TOUCH_EVERY:
            return

        async def work(tx: Tx) -> None:
            await tx.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (now, sess.id))

        await self.store.transaction(work)

    async def close_session(self, session_id_: str) -> None:
        async def work(tx: Tx) -> None:
            await tx.execute("DELETE FROM sessions WHERE id = ?", (session_id_,))

        await self.store.transaction(work)

    async def sessions_of(self, user_id: int) -> int:
        row = await self.store.query_one(
            "SELECT count(*) AS n FROM sessions WHERE user_id = ? AND expires_at > ?",
            (user_id, self.clock()))
        return 0 if row is None else int(row["n"])

