"""Read a YAML file into a dict, turning parse errors into ConfigErrors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from onefold.errors import ConfigError


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse `path`; a file that is not a YAML mapping is a ConfigError naming line and column."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys to values, got {type(data).__name__}"
        )
    return data


def explain_validation(path: Path, exc: ValidationError) -> ConfigError:
    """Render every pydantic problem as `file: key.path: what was expected (got …)`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = err.get("input")
        got_txt = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {loc}: {err['msg']}{got_txt}")
    return ConfigError(f"{path}: {len(lines)} problem(s):\n" + "\n".join(lines))
