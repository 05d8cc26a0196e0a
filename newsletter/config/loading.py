"""`load_settings`: the defaults, then `newsletter.toml`, then `NEWSLETTER_*` environment
variables (secrets under their conventional names), each value coerced to its field's type and
its source kept; then the rules of `checks`."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from newsletter.config.checks import validate
from newsletter.config.settings import SECRET_ENV, Settings, setting_fields
from newsletter.errors import ConfigError, did_you_mean

CONFIG_FILE = "newsletter.toml"


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _coerce(name: str, raw: object, kind: type, where: str) -> object:
    if kind is bool:  # TOML true/false, or the words an environment variable can hold
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ConfigError(f"{where}: '{name}' must be true or false, got {raw!r}")
    if kind is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: '{name}' must be text, got {raw!r}")
        return raw
    try:
        if isinstance(raw, bool):
            raise ValueError
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: '{name}' must be a number, got {raw!r}") from None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
) -> Settings:
    """Defaults, then the config file (if any), then `NEWSLETTER_*` environment overrides.
    Without `config_path`, `newsletter.toml` is looked for in `cwd` (default: the current
    working directory)."""
    env = os.environ if env is None else env
    kinds = setting_fields()
    values: dict[str, Any] = {}  # each coerced to its field's type by _coerce
    sources = {name: "default" for name in kinds}

    path = Path(config_path) if config_path else Path(cwd or Path.cwd()) / CONFIG_FILE
    if config_path and not path.is_file():
        raise ConfigError(f"{path}: config file not found (check --config)")
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        for key, raw in data.items():
            if key in SECRET_ENV:
                raise ConfigError(
                    f"{path}: '{key}' is a secret; remove it from the file and set "
                    f"{SECRET_ENV[key]} in the environment instead"
                )
            if key not in kinds:
                raise ConfigError(f"{path}: unknown setting '{key}'{did_you_mean(key, kinds)}")
            values[key] = _coerce(key, raw, kinds[key], str(path))
            sources[key] = str(path)

    for name, kind in kinds.items():
        var = SECRET_ENV.get(name) or f"NEWSLETTER_{name.upper()}"
        if var in env and env[var] != "":
            values[name] = _coerce(name, env[var], kind, f"environment {var}")
            sources[name] = f"env {var}"

    settings = replace(Settings(sources=sources, warnings=_unknown_env(env, kinds)), **values)
    validate(settings)
    return settings


# Not settings: the test harness's switches and the crash-test hooks of the send engine.
_NOT_SETTINGS_PREFIX = "NEWSLETTER_TEST_"


def _unknown_env(env: Mapping[str, str], kinds: Mapping[str, type]) -> tuple[str, ...]:
    """A warning for each `NEWSLETTER_*` variable that is no setting, with the closest variable
    (compared without the common prefix, so NEWSLETTER_DATABASE_URL suggests DATABASE_URL)."""
    known = [SECRET_ENV.get(name) or f"NEWSLETTER_{name.upper()}" for name in kinds]
    out = []
    for var in sorted(env):
        if not var.startswith("NEWSLETTER_") or var.startswith(_NOT_SETTINGS_PREFIX):
            continue
        if var in known:
            continue
        hint = did_you_mean(var, known, compared=_without_prefix)
        out.append(f"environment variable {var} is not a setting; it is ignored{hint}")
    return tuple(out)


def _without_prefix(var: str) -> str:
    return var.removeprefix("NEWSLETTER_").lower()
