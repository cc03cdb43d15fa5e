"""Plain dataclass configs: ``--set field=value`` overrides typed by the dataclass, TOML files.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Cfg:
    ...     lr: float = 0.1
    ...     epochs: int = 3
    ...     quick: bool = False
    >>> apply_overrides(Cfg(), ["lr=0.5", "quick=true"])
    Cfg(lr=0.5, epochs=3, quick=True)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from deepnotes.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _field_types(cfg_cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cfg_cls)
    return {f.name: hints.get(f.name, str) for f in dataclasses.fields(cfg_cls)}


def parse_value(text: str, typ: Any, name: str = "value") -> Any:
    """Convert ``text`` to ``typ`` (int, float, bool, str, Optional[...], tuple/list of ...)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in {"none", "null", ""} and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(text, a, name)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"bad value for {name}: {text!r} ({'; '.join(errors)})")
    if origin in (list, tuple):
        inner = args[0] if args else str
        parts = [p.strip() for p in text.strip("[]()").split(",") if p.strip()]
        vals = [parse_value(p, inner, name) for p in parts]
        return tuple(vals) if origin is tuple else vals
    if typ is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"bad value for {name}: {text!r} is not a boolean (use true/false)")
    if typ is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"bad value for {name}: {text!r} is not an integer") from None
    if typ is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"bad value for {name}: {text!r} is not a number") from None
    if typ is str or typ is Any:
        return text
    if typ is Path:
        return Path(text)
    raise ConfigError(f"cannot set {name} from the command line (type {typ})")


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """``["lr=0.5", "epochs=3"]`` -> ``{"lr": "0.5", "epochs": "3"}`` (later ones win).

    Example:
        >>> parse_assignments(["lr=0.5", "name=a=b"])
        {'lr': '0.5', 'name': 'a=b'}
    """
    out: dict[str, str] = {}
    for a in assignments:
        if "=" not in a:
            raise ConfigError(f"bad --set {a!r}: write it as field=value")
        k, v = a.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def apply_overrides(cfg: Any, assignments: list[str] | dict[str, Any]) -> Any:
    """Return a copy of dataclass ``cfg`` with ``field=value`` assignments applied.

    Strings are parsed by the field's annotated type; unknown fields raise ConfigError naming
    the known ones.
    """
    types_ = _field_types(type(cfg))
    changes: dict[str, Any] = {}
    items = list(assignments.items() if isinstance(assignments, dict)
                 else parse_assignments(assignments).items())
    for k, v in items:
        if k not in types_:
            raise ConfigError(
                f"unknown setting {k!r} for {type(cfg).__name__}; known: {', '.join(types_)}"
            )
        changes[k] = parse_value(v, types_[k], k) if isinstance(v, str) else v
    return dataclasses.replace(cfg, **changes)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass -> plain dict with TOML-friendly values (Paths as str, None dropped)."""
    out: dict[str, Any] = {}
    for k, v in dataclasses.asdict(cfg).items():
        if v is None:
            continue
        if isinstance(v, Path):
            v = str(v)
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def save_toml(data: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(tomli_w.dumps(data))


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}") from None
