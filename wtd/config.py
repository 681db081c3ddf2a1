"""The daemon's configuration: TOML decoded into frozen msgspec Structs.

Where it comes from, first match wins:

1. ``load(path)`` (``wtd --config PATH``): must exist;
2. ``$WTD_CONFIG``: must exist;
3. ``$XDG_CONFIG_HOME/wtd/wtd.toml``, else ``~/.config/wtd/wtd.toml``: optional;
   a missing file means every default.

Every Struct forbids unknown fields, so a typo is an error that names the key and
its section instead of a setting silently ignored. Environment variables
(``ENV_OVERRIDES``) win over the file. ``config/wtd.toml`` in the repository documents
every key with its default; ``describe`` prints the effective configuration.

Wiring: ``config = load(args.config)``; the daemon's socket is ``--socket``, else
``config.daemon.socket`` (which already carries ``$WTD_SOCKET``), else the default
rules of ``wtd.paths``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
import msgspec.inspect as mi

__all__ = [
    "DENY_KINDS",
    "ENV_OVERRIDES",
    "LOG_LEVELS",
    "REMOVED_KEYS",
    "AgentRules",
    "CircuitConfig",
    "ClaimsConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "EnforcementConfig",
    "HealthConfig",
    "ReplConfig",
    "RetryConfig",
    "StorageConfig",
    "SupervisorConfig",
    "default_path",
    "describe",
    "load",
]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
# what ``deny`` may name (``wtd.enforcement.agents.DENIABLE``): "change" is every write
DenyKind = Literal[
    "change",
    "admin",
    "create_initiative",
    "delete_tracker",
    "bulk_change",
    "restore_tracker",
    "consent",
    "skip_consent",
]
LOG_LEVELS: Final = get_args(LogLevel)
DENY_KINDS: Final[tuple[str, ...]] = get_args(DenyKind)

Count = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
# finite: `inf` is valid TOML, and a delay, timeout or lease of inf was taken here and
# then refused by the retry policy as wtd started (a traceback), or overflowed a date
MAX_SECONDS: Final = 1e9
Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file or variable,
    the key with its section, and what is accepted."""


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class DaemonConfig(_Section, frozen=True):
    socket: str = ""  # "" = $WTD_SOCKET / $XDG_RUNTIME_DIR / /tmp rules
    log_level: LogLevel = "INFO"
    workspaces: tuple[str, ...] = ()  # () = any workspace of this user
    max_connections: Positive = 512
    frame_timeout: PositiveSeconds = 10.0


class RetryConfig(_Section, frozen=True):
    max_attempts: Positive = 3
    initial_delay: Seconds = 1.0
    max_delay: Seconds = 30.0
    exponential_base: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.initial_delay > self.max_delay:
            raise ValueError(
                f"initial_delay ({self.initial_delay:g}) must not exceed "
                f"max_delay ({self.max_delay:g})"
            )


class CircuitConfig(_Section, frozen=True):
    threshold: Positive = 5
    timeout: Seconds = 60.0


class HealthConfig(_Section, frozen=True):
    window: Positive = 100


class SupervisorConfig(_Section, frozen=True):
    max_restarts: Count = 5
    period: PositiveSeconds = 10.0
    watchdog: bool = True


class StorageConfig(_Section, frozen=True):
    backups_keep: Positive = 10
    backup_every: Positive = 50
    journal_max_bytes: Positive = 8 * 1024 * 1024
    max_file_bytes: Positive = 64 * 1024 * 1024
    max_depth: Positive = 100


class AgentRules(_Section, frozen=True):
    """What one agent (``--agent NAME`` / ``$WT_AGENT``) may not do."""

    deny: tuple[DenyKind, ...] = ()
    read_only: bool = False
    subagent: bool = False  # treated as a subagent even when it does not say so


class EnforcementConfig(_Section, frozen=True):
    advisory_rules: tuple[str, ...] = ()
    agents: dict[str, AgentRules] = {}


class ClaimsConfig(_Section, frozen=True):
    lease: PositiveSeconds = 1800.0


class ReplConfig(_Section, frozen=True):
    history_size: Count = 1000


class Config(_Section, frozen=True):
    daemon: DaemonConfig = DaemonConfig()
    retry: RetryConfig = RetryConfig()
    circuit: CircuitConfig = CircuitConfig()
    health: HealthConfig = HealthConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    storage: StorageConfig = StorageConfig()
    enforcement: EnforcementConfig = EnforcementConfig()
    claims: ClaimsConfig = ClaimsConfig()
    repl: ReplConfig = ReplConfig()


# variable → (section, key); the variable wins over the file.
ENV_OVERRIDES: Final[Mapping[str, tuple[str, str]]] = {
    "WT_RETRY_MAX": ("retry", "max_attempts"),
    "WT_RETRY_DELAY": ("retry", "initial_delay"),
    "WT_CIRCUIT_THRESHOLD": ("circuit", "threshold"),
    "WT_CIRCUIT_TIMEOUT": ("circuit", "timeout"),
    "WTD_SOCKET": ("daemon", "socket"),
    "WTD_LOG_LEVEL": ("daemon", "log_level"),
    "WT_CLAIM_TTL": ("claims", "lease"),
}


# ------------------------------------------------------------------ loading


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/wtd/wtd.toml``, else ``$HOME/.config/wtd/wtd.toml``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec says to ignore a relative value
        home = env.get("HOME") or str(Path.home())
        base = os.path.join(home, ".config")
    return Path(base) / "wtd" / "wtd.toml"


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The effective configuration: defaults, then the file, then the environment.

    ``path`` (``--config``) or ``$WTD_CONFIG`` must name an existing file; the
    default file may be missing. Raises ``ConfigError`` on any problem.
    """
    env = os.environ if env is None else env
    if path is not None:
        raw = _read(Path(path), required=True, via="--config")
        source = str(path)
    elif env.get("WTD_CONFIG"):
        source = env["WTD_CONFIG"]
        raw = _read(Path(source), required=True, via="$WTD_CONFIG")
    else:
        default = default_path(env)
        raw = _read(default, required=False, via="")
        source = str(default)
    config = _convert(raw, source)
    return _apply_env(config, env)


def _read(path: Path, *, required: bool, via: str) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} (from {via}) does not exist") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None


def _convert(raw: dict[str, Any], source: str) -> Config:
    # msgspec hides dict keys in its error paths (`agents[...]`), so agent tables are
    # checked one by one first, to name the agent in the message.
    enforcement = raw.get("enforcement")
    agents = enforcement.get("agents") if isinstance(enforcement, dict) else None
    if isinstance(agents, dict):
        for name, table in agents.items():
            try:
                msgspec.convert(table, AgentRules)
            except msgspec.ValidationError as exc:
                raise _friendly(exc, raw, source, ["enforcement", "agents", name]) from None
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise _friendly(exc, raw, source, []) from None


def _apply_env(config: Config, env: Mapping[str, str]) -> Config:
    used: list[str] = []
    data = msgspec.to_builtins(config)
    for var, (section, key) in ENV_OVERRIDES.items():
        text = env.get(var)
        if not text:  # unset or empty: the file (or default) stands
            continue
        # `wtd --log-level` accepts any case, so the variable does too
        given = text.upper() if var == "WTD_LOG_LEVEL" else text
        field = _field(section, key)
        try:
            value = msgspec.convert(given, field.type, strict=False)
        except msgspec.ValidationError:
            raise ConfigError(
                f"${var}={text!r} is not valid for {key} in [{section}]: "
                f"expected {_expected(field.type)}"
            ) from None
        data[section][key] = value
        used.append(var)
    if not used:
        return config
    try:
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:  # only cross-key checks remain
        message, _ = _split(str(exc))
        names = ", ".join(f"${v}" for v in used)
        raise ConfigError(f"{message} (after overrides from {names})") from None


# ------------------------------------------------------------------ messages

_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\.\.\.)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>.*)`$", re.DOTALL)


def _split(text: str) -> tuple[str, list[str | int]]:
    match = _AT.match(text)
    assert match is not None  # the pattern matches any string
    steps: list[str | int] = []
    for name, index in _STEP.findall((match["path"] or "$")[1:]):
        steps.append(name if name else (int(index) if index.isdigit() else -1))
    return match["message"], steps


def _friendly(
    exc: msgspec.ValidationError, raw: Any, source: str, prefix: list[str]
) -> ConfigError:
    message, steps = _split(str(exc))
    path: list[str | int] = [*prefix, *steps]
    keys = [s for s in path if isinstance(s, str)]
    unknown = _UNKNOWN.match(message)
    if unknown:
        return ConfigError(f"{source}: {_unknown(unknown['key'], keys)}")
    if not keys or not message.startswith(("Expected", "Invalid enum value")):
        # a cross-key check (__post_init__) reports the table, not one key
        return ConfigError(f"{source}: {message} {_where(keys)}")
    *section, key = keys
    got = _lookup(raw, path)
    item = f" (item {path[-1] + 1})" if isinstance(path[-1], int) else ""
    expected = _expected_at(keys, item_only=bool(item))
    return ConfigError(
        f"{source}: bad value {_toml(got)} for '{key}'{item} {_where(section)}: expected {expected}"
    )


# Keys that were once documented, and why each went: a file that still sets one is
# told so, rather than left to wonder at a plain "unknown key".
REMOVED_KEYS: Final[dict[tuple[str, str], str]] = {
    ("retry", "action_timeout"): "it was never enforced (no action was ever timed out by it)",
}


def _unknown(key: str, section: list[str]) -> str:
    why = REMOVED_KEYS.get((".".join(section), key))
    if why is not None:
        return f"key '{key}' {_where(section)} was removed: {why}; delete the line"
    known = [f.name for f in _struct_at(section).fields]
    text = f"unknown key '{key}' {_where(section)}"
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        text += f"; did you mean '{close[0]}'?"
    return text + f" (known keys: {', '.join(known)})"


def _where(section: list[str]) -> str:
    return f"in [{_dotted(section)}]" if section else "at top level"


def _dotted(keys: list[str]) -> str:
    bare = re.compile(r"^[A-Za-z0-9_-]+$")
    return ".".join(k if bare.match(k) else _toml(k) for k in keys)


def _lookup(raw: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, str) and isinstance(raw, dict):
            raw = raw.get(step)
        elif isinstance(step, int) and isinstance(raw, list) and 0 <= step < len(raw):
            raw = raw[step]
        else:
            return None
    return raw


def _type_at(keys: list[str]) -> mi.Type:
    """The type of the value at ``keys``; a step into a dict (an agent's name) takes its
    value type."""
    info: mi.Type = mi.type_info(Config)
    for key in keys:
        if isinstance(info, mi.DictType):
            info = info.value_type
        else:
            assert isinstance(info, mi.StructType)
            info = next(f.type for f in info.fields if f.name == key)
    return info


def _struct_at(keys: list[str]) -> mi.StructType:
    info = _type_at(keys)
    assert isinstance(info, mi.StructType)
    return info


def _expected_at(keys: list[str], *, item_only: bool) -> str:
    info = _type_at(keys)
    if item_only and isinstance(info, mi.VarTupleType):
        info = info.item_type
    return _describe_type(info)


def _field(section: str, key: str) -> msgspec.structs.FieldInfo:
    cls = next(f.type for f in msgspec.structs.fields(Config) if f.name == section)
    return next(f for f in msgspec.structs.fields(cls) if f.name == key)


def _expected(tp: Any) -> str:
    return _describe_type(mi.type_info(tp))


def _describe_type(info: mi.Type) -> str:
    match info:
        case mi.BoolType():
            return "true or false"
        case mi.IntType() | mi.FloatType():
            noun = "an integer" if isinstance(info, mi.IntType) else "a number"
            bounds = [
                f"{op} {value:g}"
                for op, value in ((">", info.gt), (">=", info.ge), ("<", info.lt), ("<=", info.le))
                if value is not None
            ]
            return " ".join([noun, " and ".join(bounds)]) if bounds else noun
        case mi.StrType():
            return "a string"
        case mi.LiteralType():
            return "one of " + ", ".join(json.dumps(v) for v in info.values)
        case mi.VarTupleType() | mi.ListType():
            return f"a list of {_plural(_describe_type(info.item_type))}"
        case mi.DictType():
            return "a table of tables"
        case mi.StructType():
            return "a table"
        case _:
            return str(info)


def _plural(text: str) -> str:
    if text.startswith("one of "):
        return "values from " + text.removeprefix("one of ")
    return re.sub(r"^an? (\w+)", r"\1s", text)


# ------------------------------------------------------------------ describe


def describe(config: Config, *, source: str | None = None) -> str:
    """The effective configuration as TOML (what ``wtd --print-config`` would show).

    The text loads back to ``config``.
    """
    lines = [f"# effective wtd configuration (file: {source})"] if source else []
    data = msgspec.to_builtins(config)
    for section, table in data.items():
        agents = table.pop("agents", {}) if section == "enforcement" else {}
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
        for name, rules in agents.items():
            lines += ["", f"[{_dotted([section, 'agents', name])}]"]
            lines += [f"{key} = {_toml(value)}" for key, value in rules.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml(value: Any) -> str:
    """One TOML value (JSON's string escapes are valid TOML basic strings)."""
    match value:
        case bool():
            return "true" if value else "false"
        case float():
            return repr(value)  # TOML spells inf and nan as Python does
        case int():
            return str(value)
        case str():  # TOML also forbids a raw DEL, which JSON leaves alone
            return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
        case list() | tuple():
            return "[" + ", ".join(_toml(v) for v in value) + "]"
        case dict():
            return "{" + ", ".join(f"{_dotted([k])} = {_toml(v)}" for k, v in value.items()) + "}"
        case _:
            return repr(value)
