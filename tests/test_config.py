"""The daemon's configuration: the shipped file, typos named, bad values, env overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtd.config import (
    DENY_KINDS,
    LOG_LEVELS,
    AgentRules,
    CircuitConfig,
    Config,
    ConfigError,
    EnforcementConfig,
    RetryConfig,
    default_path,
    describe,
    load,
)

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "wtd.toml"
NO_ENV: dict[str, str] = {}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wtd.toml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path, env=NO_ENV)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


# ------------------------------------------------------------------ the shipped file


def test_shipped_file_loads_to_exactly_the_defaults() -> None:
    assert load(SHIPPED, env=NO_ENV) == Config()


def test_shipped_file_sets_every_key_so_every_key_is_documented() -> None:
    data = tomllib.loads(SHIPPED.read_text())
    config = mi.type_info(Config)
    assert isinstance(config, mi.StructType)
    for section in config.fields:
        assert isinstance(section.type, mi.StructType)
        for key in section.type.fields:
            if key.name == "agents":
                continue  # an example table, commented out
            assert key.name in data[section.name], f"[{section.name}] {key.name} missing"


def test_shipped_file_documents_the_agent_tables() -> None:
    text = SHIPPED.read_text()
    assert "# [enforcement.agents." in text
    assert all(kind in text for kind in DENY_KINDS)
    assert "# read_only = " in text


def test_the_shipped_agent_table_example_loads_with_every_documented_key(
    tmp_path: Path,
) -> None:
    # the example (commented out), uncommented, plus the keys its comment documents
    lines = SHIPPED.read_text().splitlines()
    start = lines.index("# [enforcement.agents.reviewer]")
    table = [line[2:] for line in lines[start : start + 3]]
    kinds = ", ".join(f'"{kind}"' for kind in DENY_KINDS)
    text = "\n".join([*table, "subagent = true", "", "[enforcement.agents.b]", f"deny = [{kinds}]"])
    config = load(write(tmp_path, text), env=NO_ENV)
    rules = config.enforcement.agents
    assert rules["reviewer"].subagent and set(rules["b"].deny) == set(DENY_KINDS)


def test_config_deny_kinds_are_what_enforcement_can_deny() -> None:
    from wtd.enforcement.agents import DENIABLE

    assert set(DENY_KINDS) == DENIABLE


def test_shipped_file_mentions_each_env_override() -> None:
    text = SHIPPED.read_text()
    for var in ("WT_RETRY_MAX", "WT_RETRY_DELAY", "WT_CIRCUIT_THRESHOLD"):
        assert var in text
    for var in ("WT_CIRCUIT_TIMEOUT", "WTD_SOCKET", "WTD_LOG_LEVEL"):
        assert var in text


# ------------------------------------------------------------------ where it is found


def test_missing_default_file_means_defaults(tmp_path: Path) -> None:
    assert load(env={"HOME": str(tmp_path)}) == Config()


def test_default_file_is_read_from_home_config(tmp_path: Path) -> None:
    path = tmp_path / ".config" / "wtd" / "wtd.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[circuit]\nthreshold = 9\n")
    assert load(env={"HOME": str(tmp_path)}).circuit.threshold == 9


def test_default_file_follows_xdg_config_home(tmp_path: Path) -> None:
    env = {"HOME": "/nonexistent", "XDG_CONFIG_HOME": str(tmp_path)}
    assert default_path(env) == tmp_path / "wtd" / "wtd.toml"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml.*--config.*does not exist"):
        load(tmp_path / "nope.toml", env=NO_ENV)


def test_wtd_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[health]\nwindow = 7\n")
    assert load(env={"WTD_CONFIG": str(path)}).health.window == 7


def test_wtd_config_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$WTD_CONFIG.*does not exist"):
        load(env={"WTD_CONFIG": str(tmp_path / "nope.toml")})


def test_explicit_path_wins_over_wtd_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[health]\nwindow = 7\n")
    assert load(path, env={"WTD_CONFIG": str(tmp_path / "nope.toml")}).health.window == 7


def test_invalid_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[retry\n")
    assert "not valid TOML" in message and "line 1" in message


def test_a_file_sets_only_what_it_names(tmp_path: Path) -> None:
    config = load(write(tmp_path, "[retry]\nmax_attempts = 7\n"), env=NO_ENV)
    assert config == Config(retry=RetryConfig(max_attempts=7))


def test_integers_are_accepted_for_seconds(tmp_path: Path) -> None:
    config = load(write(tmp_path, "[circuit]\ntimeout = 5\n"), env=NO_ENV)
    assert config.circuit == CircuitConfig(timeout=5.0)


def test_agent_tables_are_decoded(tmp_path: Path) -> None:
    text = '[enforcement.agents.reviewer]\ndeny = ["consent", "bulk_change"]\nread_only = true\n'
    config = load(write(tmp_path, text), env=NO_ENV)
    assert config.enforcement == EnforcementConfig(
        agents={"reviewer": AgentRules(deny=("consent", "bulk_change"), read_only=True)}
    )


# ------------------------------------------------------------------ unknown keys


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[retyr]\nmax_attempts = 3\n")
    assert "unknown key 'retyr' at top level" in message
    assert "did you mean 'retry'?" in message


def test_unknown_key_in_a_section_is_named_with_its_section(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[retry]\nretyr = 3\n")
    assert "unknown key 'retyr' in [retry]" in message
    assert "max_attempts" in message  # the keys that do exist


def test_misspelt_key_gets_a_suggestion(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[circuit]\nthreshhold = 3\n")
    assert "unknown key 'threshhold' in [circuit]; did you mean 'threshold'?" in message


def test_unknown_key_in_a_nested_section(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[enforcement]\nadvisory = []\n")
    assert "unknown key 'advisory' in [enforcement]" in message


def test_unknown_key_in_an_agent_table_names_the_agent(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[enforcement.agents.reviewer]\nreadonly = true\n")
    assert "unknown key 'readonly' in [enforcement.agents.reviewer]" in message
    assert "did you mean 'read_only'?" in message


def test_agent_names_that_need_quotes_are_quoted(tmp_path: Path) -> None:
    message = error_for(tmp_path, '[enforcement.agents."code reviewer"]\nnope = 1\n')
    assert "unknown key 'nope' in [enforcement.agents.\"code reviewer\"]" in message


# ------------------------------------------------------------------ bad values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[retry]\nmax_attempts = 'three'",
            "bad value \"three\" for 'max_attempts' in [retry]: expected an integer >= 1",
        ),
        (
            "[retry]\ninitial_delay = -1",
            "bad value -1 for 'initial_delay' in [retry]: expected a number >= 0",
        ),
        (
            "[retry]\nmax_delay = -0.5",
            "bad value -0.5 for 'max_delay' in [retry]: expected a number >= 0",
        ),
        (
            "[retry]\ninitial_delay = inf\nmax_delay = inf",
            "bad value inf for 'initial_delay' in [retry]: expected a number >= 0 and <= 1e+09",
        ),
        (
            "[claims]\nlease = inf",
            "bad value inf for 'lease' in [claims]: expected a number > 0 and <= 1e+09",
        ),
        (
            "[retry]\njitter = 1",
            "bad value 1 for 'jitter' in [retry]: expected true or false",
        ),
        (
            "[circuit]\nthreshold = 0",
            "bad value 0 for 'threshold' in [circuit]: expected an integer >= 1",
        ),
        (
            "[supervisor]\nperiod = 0",
            "bad value 0 for 'period' in [supervisor]: expected a number > 0",
        ),
        (
            "[enforcement]\nadvisory_rules = 'be nice'",
            "bad value \"be nice\" for 'advisory_rules' in [enforcement]: "
            "expected a list of strings",
        ),
        (
            "retry = 3",
            "bad value 3 for 'retry' at top level: expected a table",
        ),
    ],
)
def test_bad_value_is_named_with_what_is_accepted(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_for(tmp_path, text)


def test_bad_log_level_lists_the_accepted_levels(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[daemon]\nlog_level = 'LOUD'\n")
    assert "bad value \"LOUD\" for 'log_level' in [daemon]: expected one of" in message
    assert all(f'"{level}"' in message for level in LOG_LEVELS)


def test_unknown_deny_kind_names_agent_item_and_accepted_kinds(tmp_path: Path) -> None:
    text = '[enforcement.agents.bot]\ndeny = ["consent", "nuke"]\n'
    message = error_for(tmp_path, text)
    assert "bad value \"nuke\" for 'deny' (item 2) in [enforcement.agents.bot]" in message
    assert all(f'"{kind}"' in message for kind in DENY_KINDS)


def test_agent_that_is_not_a_table_is_named(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[enforcement.agents]\nbot = true\n")
    assert "bad value true for 'bot' in [enforcement.agents]: expected a table" in message


def test_initial_delay_above_max_delay_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[retry]\ninitial_delay = 40\n")
    assert "initial_delay (40) must not exceed max_delay (30) in [retry]" in message


# ------------------------------------------------------------------ environment


def test_env_overrides_win_over_the_file(tmp_path: Path) -> None:
    text = "[retry]\nmax_attempts = 7\n[circuit]\nthreshold = 2\n[daemon]\nlog_level = 'ERROR'\n"
    env = {
        "WT_RETRY_MAX": "4",
        "WT_RETRY_DELAY": "0.25",
        "WT_CIRCUIT_THRESHOLD": "8",
        "WT_CIRCUIT_TIMEOUT": "2.5",
        "WTD_SOCKET": "/tmp/x/wtd.sock",
        "WTD_LOG_LEVEL": "debug",
    }
    config = load(write(tmp_path, text), env=env)
    assert (config.retry.max_attempts, config.retry.initial_delay) == (4, 0.25)
    assert (config.circuit.threshold, config.circuit.timeout) == (8, 2.5)
    assert (config.daemon.socket, config.daemon.log_level) == ("/tmp/x/wtd.sock", "DEBUG")


def test_empty_env_value_leaves_the_file_value(tmp_path: Path) -> None:
    config = load(write(tmp_path, "[retry]\nmax_attempts = 7\n"), env={"WT_RETRY_MAX": ""})
    assert config.retry.max_attempts == 7


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("WT_RETRY_MAX", "many", "expected an integer >= 1"),
        ("WT_RETRY_MAX", "0", "expected an integer >= 1"),
        ("WT_RETRY_DELAY", "soon", "expected a number >= 0"),
        ("WT_CIRCUIT_THRESHOLD", "1.5", "expected an integer >= 1"),
        ("WT_CIRCUIT_TIMEOUT", "-3", "expected a number >= 0"),
        ("WTD_LOG_LEVEL", "chatty", 'expected one of "DEBUG"'),
    ],
)
def test_malformed_env_value_names_the_variable(
    tmp_path: Path, var: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(env={"HOME": str(tmp_path), var: value})
    message = str(info.value)
    assert message.startswith(f"${var}={value!r} is not valid for "), message
    assert expected in message


def test_env_that_breaks_a_cross_key_rule_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"max_delay.*\$WT_RETRY_DELAY"):
        load(env={"HOME": str(tmp_path), "WT_RETRY_DELAY": "120"})


# ------------------------------------------------------------------ describe


def test_describe_of_the_defaults_loads_back_to_the_defaults(tmp_path: Path) -> None:
    assert load(write(tmp_path, describe(Config())), env=NO_ENV) == Config()


def test_describe_names_its_source() -> None:
    assert describe(Config(), source="/etc/x.toml").startswith("# effective wtd configuration")


agent_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)


@given(
    agents=st.dictionaries(
        agent_names,
        st.builds(
            AgentRules,
            deny=st.lists(st.sampled_from(DENY_KINDS), max_size=4).map(tuple),
            read_only=st.booleans(),
        ),
        max_size=3,
    ),
    rules=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    attempts=st.integers(min_value=1, max_value=10**6),
    delay=st.floats(min_value=0, max_value=30),
    level=st.sampled_from(LOG_LEVELS),
)
def test_describe_round_trips(
    agents: dict[str, AgentRules],
    rules: tuple[str, ...],
    attempts: int,
    delay: float,
    level: str,
) -> None:
    config = msgspec.convert(
        {
            "daemon": {"log_level": level},
            "retry": {"max_attempts": attempts, "initial_delay": delay},
            "enforcement": {"advisory_rules": rules, "agents": agents},
        },
        Config,
        from_attributes=True,
    )
    assert msgspec.convert(tomllib.loads(describe(config)), Config) == config


def test_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "wtd.toml"
    path.write_bytes(b"[retry]\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path, env=NO_ENV)


def test_a_removed_key_is_named_with_why_it_went(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[retry]\naction_timeout = 10.0\n")
    assert "key 'action_timeout' in [retry] was removed" in message
    assert "never enforced" in message
    assert "delete the line" in message
