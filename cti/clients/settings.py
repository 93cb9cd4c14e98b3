"""The ``clients.*`` settings as one small value, so the directory and the linker can be built in a
test without a configuration file (``ClientSettings()`` are the documented defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from cti.config import Config
from cti.phone import DEFAULT_EXTENSION_PATTERN, is_region


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """``default_region``: country assumed for numbers without a country code.
    ``match_last_digits``: length of the last-digits fallback (0: off).
    ``auto_create`` / ``auto_create_directions``: create a client for an unknown external
    number on calls of these directions. ``types``: client types, the first one given to
    auto-created clients. ``extension_pattern``: what an internal extension looks like (from
    the PBX settings), so extensions are never turned into E.164 nor matched."""

    default_region: str = "FR"
    match_last_digits: int = 9
    auto_create: bool = True
    auto_create_directions: tuple[str, ...] = ("inbound", "outbound")
    types: tuple[str, ...] = ("prospect", "client", "vip", "problem", "supplier")
    extension_pattern: str = DEFAULT_EXTENSION_PATTERN

    def __post_init__(self) -> None:
        # Bad settings are caller bugs caught at start-up, not per call.
        if not is_region(self.default_region):
            raise ValueError(f"clients.default_region: unknown region {self.default_region!r}")
        if self.match_last_digits < 0:
            raise ValueError("clients.match_last_digits must be >= 0")
        if not self.types or any(not t.strip() for t in self.types):
            raise ValueError("clients.types must list at least one non-empty type")

    @classmethod
    def from_config(cls, config: Config) -> ClientSettings:
        """Read the ``clients.*`` keys. With several PBXes, a number is an extension when it
        looks like one on any of them."""
        patterns = sorted({p.extension_pattern for p in config.pbxes}) or [
            DEFAULT_EXTENSION_PATTERN
        ]
        pattern = patterns[0] if len(patterns) == 1 else "|".join(f"(?:{p})" for p in patterns)
        return cls(
            default_region=str(config.get("clients.default_region")).upper(),
            match_last_digits=int(config.get("clients.match_last_digits")),
            auto_create=bool(config.get("clients.auto_create")),
            auto_create_directions=tuple(str(d) for d in config.get(
                "clients.auto_create_directions")),
            types=tuple(str(t) for t in config.get("clients.types")),
            extension_pattern=pattern,
        )

    @property
    def default_type(self) -> str:
        return self.types[0]
