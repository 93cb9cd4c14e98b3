"""Settings: defaults < TOML file < environment (``CTI_…``) < command-line flags.

Every setting is declared once, as data, with its default and help text (the README's
configuration reference is checked against this table by a test). Several PBXes are allowed as
``[[pbx]]`` tables; with none, one PBX named ``default`` uses the defaults (the embedded
simulator's address and credentials), so ``cti serve`` works out of the box.

Environment: ``CTI_<SECTION>_<KEY>`` for a plain setting (``CTI_DB_PATH``), and
``CTI_PBX_<NAME>_<KEY>`` for a PBX setting (``CTI_PBX_DEFAULT_AMI_SECRET``), so secrets need not
sit in the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cti.calls.classify import TrackerConfig


class ConfigError(Exception):
    """An invalid configuration; the message names the offending key."""


@dataclass(frozen=True)
class Setting:
    key: str  # "section.name" (or "pbx.name" for per-PBX settings)
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("db.path", "cti.db", "SQLite database file (created if missing)."),
    Setting("log.level", "info", "Log level: debug, info, warning, error."),
    Setting("log.json", False, "Write logs as JSON lines (structured) instead of text."),
    Setting("log.status_interval", 300.0,
            "Seconds between status lines (connection state, counters) in the log; 0: never."),
    Setting("overlong.seconds", 600.0,
            "Talk time (s) after which a call is flagged overlong; 0 disables the flag."),
    Setting("overlong.by_direction", {},
            "Per-direction thresholds, e.g. {inbound = 900, outbound = 1200}."),
    Setting("overlong.by_queue", {}, "Per-queue thresholds, e.g. {support = 300}."),
    Setting("clients.default_region", "FR",
            "Region for numbers written without a country code (ISO 3166: FR, BE, RO…)."),
    Setting("clients.match_last_digits", 9,
            "Fallback match on the last N digits when no exact E.164 match (0: off)."),
    Setting("clients.auto_create", True, "Create a client for an unknown external number."),
    Setting("clients.auto_create_directions", ["inbound", "outbound"],
            "Call directions that auto-create clients."),
    Setting("clients.types", ["prospect", "client", "vip", "problem", "supplier"],
            "Client types offered in the UI (the first is given to auto-created clients)."),
    Setting("lookup.http_url", "",
            "External JSON lookup, e.g. https://crm.example/lookup?number={e164} (empty: off)."),
    Setting("lookup.http_timeout", 2.0, "Seconds before an external lookup is abandoned."),
    Setting("lookup.cache_ttl", 3600.0, "Seconds an external lookup answer is kept."),
    Setting("lookup.dolibarr_url", "", "Dolibarr base URL for third-party lookup (empty: off)."),
    Setting("lookup.dolibarr_api_key", "",
            "Dolibarr API key. Prefer the environment: CTI_LOOKUP_DOLIBARR_API_KEY."),
    Setting("web.host", "127.0.0.1",
            "Address the web UI listens on (0.0.0.0: every interface; put HTTPS in front)."),
    Setting("web.port", 8080, "TCP port of the web UI (0: any free port)."),
    Setting("web.secure_cookies", False,
            "Mark the session cookie Secure (sent over HTTPS only); turn on behind HTTPS."),
    Setting("web.session_hours", 12.0, "Hours a login lasts before it must be renewed."),
    Setting("web.language", "fr",
            "UI language when neither the user nor the browser chooses one: fr or en."),
    Setting("web.timezone", "Europe/Paris",
            "IANA time zone for times shown when neither the user nor the browser gives one."),
    Setting("web.metrics_token", "",
            "Bearer token Prometheus sends to read /metrics (empty: a logged-in supervisor "
            "only). Prefer the environment: CTI_WEB_METRICS_TOKEN."),
    Setting("dial.max_per_minute", 10,
            "Click-to-dial requests one user may make per minute; more get HTTP 429."),
    Setting("tickets.prefix", "T-", "Prefix of ticket numbers (T-2026-000123)."),
    Setting("tickets.auto_missed", False,
            "Open a ticket (with a callback) for every missed inbound call."),
    Setting("tickets.attachments_dir", "attachments",
            "Folder where ticket attachments are stored (created if missing)."),
    Setting("tickets.max_attachment_mb", 10.0, "Largest attachment accepted, in MB."),
    Setting("tickets.attachment_types",
            ["application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain",
             "text/csv", "application/zip", "audio/wav", "audio/mpeg",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "application/vnd.oasis.opendocument.text", "message/rfc822"],
            "Content types an attachment may have."),
    Setting("mail.smtp_host", "", "SMTP server for notifications (empty: mail is queued only)."),
    Setting("mail.smtp_port", 25, "SMTP port (587 with STARTTLS, 465 with TLS)."),
    Setting("mail.smtp_user", "", "SMTP login (empty: no authentication)."),
    Setting("mail.smtp_password", "", "SMTP password. Prefer CTI_MAIL_SMTP_PASSWORD."),
    Setting("mail.security", "none", "none, starttls or tls."),
    Setting("mail.sender", "cti@localhost", "From address of notification mail."),
    Setting("mail.base_url", "http://127.0.0.1:8080",
            "Address of the web UI as people reach it (links in mail)."),
    Setting("mail.retry_max", 10, "Attempts before a mail is left failed (visible to admins)."),
    Setting("recordings.dir", "recordings",
            "Folder where cti reads the PBX's recordings (a mount or a copy of its folder)."),
    Setting("recordings.pbx_dir", "",
            "Folder Asterisk writes recordings under (e.g. /var/spool/asterisk/monitor), "
            "mapped onto recordings.dir; empty: only the file name is kept."),
    Setting("recordings.keep_unanswered", False,
            "Keep the partial recording of an unanswered call (else it is dropped and deleted)."),
    Setting("recordings.scan_interval", 600.0,
            "Seconds between scans of recordings.dir (files without an event, vanished files); "
            "0: only at start-up."),
    Setting("recordings.transcode_after_days", 0.0,
            "Re-encode WAV recordings older than this many days (smaller files); 0: never."),
    Setting("recordings.transcode_format", "opus", "Format recordings are re-encoded to: opus or "
            "mp3 (needs ffmpeg)."),
    Setting("recordings.retention_days", 0.0,
            "Delete recordings older than this many days, except those of overlong calls and of "
            "calls linked to an open ticket; 0: keep forever."),
    Setting("speech.engine", "pocketsphinx",
            "Speech-to-text engine for recordings: pocketsphinx (bundled en-us model, no "
            "download) or vosk (needs a model: speech.vosk_model_path or _lang)."),
    Setting("speech.language", "en-us",
            "Language of the calls (pocketsphinx: en-us only; vosk: its model's language)."),
    Setting("speech.vosk_model_path", "",
            "Folder of an unpacked vosk model (empty: vosk finds one by language)."),
    Setting("speech.vosk_model_lang", "",
            "Language of the vosk model to look up in vosk's folders or download into "
            "~/.cache/vosk (empty: speech.language)."),
    Setting("speech.workers", 1,
            "Processes transcribing recordings at once (each a CPU core and a model in memory)."),
    Setting("speech.enabled", True,
            "Transcribe and score every recorded call in the background."),
    Setting("speech.scorecard", "",
            "TOML file of quality rules (empty: the default scorecard shipped with cti)."),
    Setting("speech.company", "",
            "Company name the scorecard's {company} phrases look for (the agents' greeting)."),
    Setting("survey.enabled", False,
            "Post-call satisfaction survey: answered inbound callers sent to Stasis(cti,survey,"
            "…) after the agent hangs up answer 1-5 by keypad (one ARI link per PBX)."),
    Setting("survey.queues", [],
            "Queues whose calls get the survey (empty, with survey.dids empty: every answered "
            "inbound call)."),
    Setting("survey.dids", [], "Dialled numbers (DIDs) whose calls get the survey."),
    Setting("survey.questions", ["q1", "q2"],
            "1 to 3 questions, \"id\" or \"id:prompt\" (default prompt survey-<id>, played as "
            "sound:cti/<prompt>)."),
    Setting("survey.language", "fr",
            "Language of the prompts (fr, en) when the dialplan passes none or one without "
            "prompts."),
    Setting("survey.timeout", 6.0, "Seconds the caller has to press a key after a question."),
    Setting("survey.retries", 1,
            "Times a question is asked again after a wrong key or no key (then: no answer)."),
    Setting("pbx.name", "default", "Name of this PBX (part of every call's key)."),
    Setting("pbx.ami_host", "127.0.0.1", "AMI host."),
    Setting("pbx.ami_port", 5038, "AMI TCP port."),
    Setting("pbx.ami_user", "cti", "AMI username (manager.conf section)."),
    Setting("pbx.ami_secret", "cti-secret",
            "AMI secret. Prefer the environment: CTI_PBX_<NAME>_AMI_SECRET."),
    Setting("pbx.ami_ping_interval", 20.0, "Seconds between keepalive pings."),
    Setting("pbx.ami_action_timeout", 10.0, "Seconds before an AMI action fails."),
    Setting("pbx.ami_backoff_min", 0.5, "First reconnect delay (s); doubles up to the max."),
    Setting("pbx.ami_backoff_max", 30.0, "Longest reconnect delay (s)."),
    Setting("pbx.resync_interval", 900.0,
            "Seconds between periodic CoreShowChannels resyncs (besides every login); 0: off."),
    Setting("pbx.ari_url", "http://127.0.0.1:8088/ari", "ARI base URL."),
    Setting("pbx.ari_user", "cti", "ARI username (ari.conf)."),
    Setting("pbx.ari_password", "cti-secret", "ARI password. Prefer CTI_PBX_<NAME>_ARI_PASSWORD."),
    Setting("pbx.extension_pattern", r"^\d{2,6}$",
            "Regex: endpoints whose name matches are internal extensions (phones)."),
    Setting("pbx.trunk_patterns", [],
            "Regexes: endpoints matching any are trunks, whatever their name looks like."),
    Setting("pbx.inbound_contexts",
            ["from-trunk*", "from-pstn*", "from-external*", "from-did*", "ext-did*",
             "from-sip-external"],
            "Contexts (glob) where calls from outside enter the dialplan."),
    Setting("pbx.external_min_digits", 7,
            "A dialled number with at least this many digits is external (outbound)."),
    Setting("pbx.dial_context", "from-internal",
            "Dialplan context click-to-dial sends the number to (the phones' outgoing context)."),
    Setting("pbx.blocked_prefixes", ["089", "+3389", "0900", "+3290", "+40900", "+40903",
                                     "+40906"],
            "Numbers click-to-dial refuses (premium rate): prefixes of the number as typed, of "
            "its E.164 form and of its national form in clients.default_region."),
    Setting("pbx.transfer_context", "from-internal",
            "Dialplan context the UI's transfers dial the target in (BlindTransfer/Atxfer "
            "Exten@Context): your phones' context."),
    Setting("pbx.transfer_groups", {"support": "600"},
            "Groups (queues) offered as transfer targets: name = extension in "
            "pbx.transfer_context, e.g. {support = \"600\"} (the lab dialplan's support queue)."),
    Setting("pbx.parking_lot", "default",
            "res_parking lot Hold parks the caller in (AMI Park Parkinglot)."),
    Setting("pbx.parking_context", "parkedcalls",
            "Context of that lot's spaces (res_parking.conf context): Resume rings the agent's "
            "phone and sends it to the space there."),
)

#: What ``speech.engine`` may name (``cti.speech.engines`` builds them).
SPEECH_ENGINES = ("pocketsphinx", "vosk")
_BY_KEY = {s.key: s for s in SETTINGS}
_SECTIONS = {s.key.split(".")[0] for s in SETTINGS} - {"pbx"}


@dataclass(frozen=True)
class PbxConfig:
    name: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    ami_ping_interval: float
    ami_action_timeout: float
    ami_backoff_min: float
    ami_backoff_max: float
    resync_interval: float
    ari_url: str
    ari_user: str
    ari_password: str
    extension_pattern: str
    trunk_patterns: tuple[str, ...]
    inbound_contexts: tuple[str, ...]
    external_min_digits: int
    dial_context: str = "from-internal"
    blocked_prefixes: tuple[str, ...] = ()
    transfer_context: str = "from-internal"
    transfer_groups: Mapping[str, str] = field(default_factory=lambda: {"support": "600"})
    parking_lot: str = "default"
    parking_context: str = "parkedcalls"


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any]
    pbxes: tuple[PbxConfig, ...]
    source: str = "defaults"
    notes: tuple[str, ...] = field(default=())

    def get(self, key: str) -> Any:
        return self.values[key]

    @property
    def db_path(self) -> Path:
        return Path(self.values["db.path"])

    def tracker_config(self, pbx: PbxConfig) -> TrackerConfig:
        return TrackerConfig(
            pbx=pbx.name,
            extension_pattern=pbx.extension_pattern,
            trunk_patterns=pbx.trunk_patterns,
            inbound_contexts=pbx.inbound_contexts,
            external_min_digits=pbx.external_min_digits,
            overlong_seconds=float(self.values["overlong.seconds"]),
            overlong_by_direction=dict(self.values["overlong.by_direction"]),
            overlong_by_queue=dict(self.values["overlong.by_queue"]),
        )


def _coerce(key: str, value: Any) -> Any:
    default = _BY_KEY[key].default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return low in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if isinstance(default, list):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(value)
            return tuple(value)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ValueError(value)
            if default and all(isinstance(v, str) for v in default.values()):
                return {str(k): str(v) for k, v in value.items()}  # names → extensions
            return {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        kind = type(default).__name__
        raise ConfigError(f"setting '{key}': expected {kind}, got {value!r}") from exc
    return value


def _env_name(*parts: str) -> str:
    return "CTI_" + "_".join(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in parts)


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration. ``overrides`` are CLI flags, keyed like ``db.path``."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path}: not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
        source = str(path)
    values: dict[str, Any] = {s.key: _coerce(s.key, s.default) for s in SETTINGS
                              if not s.key.startswith("pbx.")}
    pbx_tables = data.pop("pbx", None)
    for section, table in data.items():
        if section not in _SECTIONS:
            raise ConfigError(f"unknown section '[{section}]' in {source}")
        if not isinstance(table, dict):
            raise ConfigError(f"'{section}' must be a table")
        for key, value in table.items():
            full = f"{section}.{key}"
            if full not in _BY_KEY:
                raise ConfigError(f"unknown setting '{full}' in {source}")
            values[full] = _coerce(full, value)
    for key in list(values):
        name = _env_name(*key.split("."))
        if name in env:
            values[key] = _coerce(key, env[name])
    for key, value in (overrides or {}).items():
        if key not in _BY_KEY:
            raise ConfigError(f"unknown setting '{key}'")
        if value is not None and not key.startswith("pbx."):
            values[key] = _coerce(key, value)
    _check_speech(values)
    if pbx_tables is None:
        pbx_tables = [{}]
    if not isinstance(pbx_tables, list) or not all(isinstance(t, dict) for t in pbx_tables):
        raise ConfigError("'pbx' must be an array of tables: [[pbx]]")
    pbxes = tuple(_pbx(i, t, env, overrides or {}) for i, t in enumerate(pbx_tables))
    names = [p.name for p in pbxes]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate [[pbx]] names: {names}")
    return Config(values, pbxes, source)


def _check_speech(values: Mapping[str, Any]) -> None:
    if values["speech.engine"] not in SPEECH_ENGINES:
        raise ConfigError(f"setting 'speech.engine': {values['speech.engine']!r} is not one of "
                          f"{', '.join(SPEECH_ENGINES)}")
    if values["speech.workers"] < 1:
        raise ConfigError("setting 'speech.workers': at least 1")


def _pbx(index: int, table: Mapping[str, Any], env: Mapping[str, str],
         overrides: Mapping[str, Any]) -> PbxConfig:
    vals: dict[str, Any] = {}
    for s in SETTINGS:
        if not s.key.startswith("pbx."):
            continue
        vals[s.key[4:]] = _coerce(s.key, s.default)
    for key, value in table.items():
        full = f"pbx.{key}"
        if full not in _BY_KEY:
            raise ConfigError(f"unknown setting '{full}' in [[pbx]] #{index + 1}")
        vals[key] = _coerce(full, value)
    for key in list(vals):
        name = _env_name("pbx", vals["name"], key)
        if name in env:
            vals[key] = _coerce(f"pbx.{key}", env[name])
    if index == 0:
        for key, value in overrides.items():
            if key.startswith("pbx.") and value is not None:
                vals[key[4:]] = _coerce(key, value)
    for pattern_key in ("extension_pattern",):
        try:
            re.compile(vals[pattern_key])
        except re.error as exc:
            raise ConfigError(f"setting 'pbx.{pattern_key}': bad regex ({exc})") from exc
    for pat in vals["trunk_patterns"]:
        try:
            re.compile(pat)
        except re.error as exc:
            raise ConfigError(f"setting 'pbx.trunk_patterns': bad regex {pat!r} ({exc})") from exc
    if not 0 < vals["ami_port"] < 65536:
        raise ConfigError(f"setting 'pbx.ami_port': {vals['ami_port']} is not a TCP port")
    return PbxConfig(**vals)
