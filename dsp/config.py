"""Typed configuration: YAML (or dict) data validated into frozen dataclasses.

A config class is a ``@dataclass(frozen=True)`` whose fields carry their limits in ``spec(...)``::

    @dataclass(frozen=True)
    class Carrier:
        frequency_hz: float = field(metadata=spec(gt=0, unit="Hz", doc="carrier frequency"))
        band: str = field(default="S", metadata=spec(choices=("S", "Ka")))

    parse(Carrier, {"frequency_hz": 2e9}, source="pass.yaml", path="carrier")

Supported field types: ``int``, ``float`` (ints accepted), ``str``, ``bool``, nested config
dataclasses, ``list[T]``, ``tuple[T, ...]``, ``dict[str, T]``, ``Optional[T]`` / ``T | None`` and
``Literal[...]``. Unknown keys are errors (a typo must not be silently ignored). Every error is a
:class:`~dsp.errors.ConfigError` whose message names the file, the dotted field path, the value and
what is allowed, e.g.::

    scenarios/bad.yaml: link.carrier.frequency_hz: got -3.0; allowed: > 0 Hz

Modules define their own config dataclasses next to the code that uses them; the scenario file
composes them (see :mod:`hil.scenario` in hil/).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from typing import Any, Literal, Union

import yaml

from dsp.errors import ConfigError

__all__ = ["spec", "parse", "load_yaml", "to_dict"]

_MISSING = dataclasses.MISSING


def spec(*, ge=None, gt=None, le=None, lt=None, choices=None, unit: str = "", doc: str = "",
         min_len: int | None = None, max_len: int | None = None) -> dict:
    """Field metadata: numeric bounds (ge/gt/le/lt), allowed choices, length bounds, unit and doc."""
    return {"hil": dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices, unit=unit, doc=doc,
                        min_len=min_len, max_len=max_len)}


#: Largest YAML file read (bytes): scenario, emulator, profile and impairment files are a few kB.
MAX_YAML_BYTES = 16 << 20
#: Most values a document may expand to (anchors/aliases counted at every use): a "billion laughs"
#: file is a few hundred bytes but would make the validators walk 10^9 nodes.
MAX_YAML_NODES = 1_000_000


def load_yaml(path: str | os.PathLike, *, allow_empty: bool = False) -> Any:
    """Read a YAML file (``yaml.safe_load``). Every problem is one :class:`ConfigError` naming the file:
    missing, a directory, unreadable, larger than :data:`MAX_YAML_BYTES`, not UTF-8 text (a binary
    file), YAML syntax (line and column), nested too deeply, more than :data:`MAX_YAML_NODES` values
    after alias expansion, or empty (no document; ``allow_empty=True`` returns None instead)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ConfigError.bad_value("path", path, "a file path") from None
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", source=path) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a YAML file", source=path) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})", source=path) from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES} bytes; not a configuration file", source=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); "
                          "expected a YAML file", source=path) from None
    if "\x00" in text:
        raise ConfigError(f"{path}: contains NUL bytes (a binary file?); expected a YAML file", source=path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        problem = " ".join(str(problem).split())  # one line
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}", source=path) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a configuration file", source=path) from None
    if _expanded_size(data, MAX_YAML_NODES) > MAX_YAML_NODES:
        raise ConfigError(f"{path}: expands to more than {MAX_YAML_NODES} values (aliases counted at every "
                          "use); not a configuration file", source=path)
    if data is None and not allow_empty:
        raise ConfigError(f"{path}: empty (no YAML document); expected the settings", source=path)
    return data


def _expanded_size(obj, limit: int) -> int:
    """Number of values ``obj`` has when every shared (aliased) container is counted at each use;
    stops early above ``limit``. Shared containers are sized once (memo by id), so this is linear in
    the distinct nodes even for a document built to explode."""
    memo: dict[int, int] = {}

    def size(o) -> int:
        if isinstance(o, dict):
            items = [*o.keys(), *o.values()]
        elif isinstance(o, (list, tuple)):
            items = o
        else:
            return 1
        key = id(o)
        if key in memo:
            return memo[key]
        memo[key] = limit + 1  # a (cyclic) reference to itself counts as too large
        total = 1
        for v in items:
            total += size(v)
            if total > limit:
                break
        memo[key] = total
        return total

    try:
        return size(obj)
    except RecursionError:
        return limit + 1


def _fail(source, path, value, allowed):
    raise ConfigError.bad_value(path or "<top level>", _brief(value, top=not path), allowed, source=source)


class _Brief(str):
    """A value too long to quote, shown by what it is (its repr is the description itself)."""

    def __repr__(self):
        return str(self)


def _brief(value, *, top: bool = False, limit: int = 120):
    """The value as an error shows it: a whole file read as one string (``hil profiles show /etc/passwd``,
    ``hil check`` of a text file) is described, never printed; long values are cut to ``limit`` characters."""
    if top and not isinstance(value, (dict, type(None))):
        size = f" of {len(value)} characters" if isinstance(value, str) else \
            (f" of {len(value)} items" if isinstance(value, (list, tuple)) else "")
        return _Brief(f"<a {type(value).__name__}{size}, not a mapping>")
    text = repr(value)
    if len(text) > limit:
        return _Brief(text[: limit - 5] + " ...>" if text.startswith("<") else text[: limit - 4] + " ...")
    return value


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}"
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return str(tp)


def _check_limits(value, meta, source, path):
    if not meta:
        return
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    if meta.get("choices") is not None and value not in meta["choices"]:
        _fail(source, path, value, "one of " + ", ".join(repr(c) for c in meta["choices"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        checks = (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                  ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<"))
        bounds = [f"{sym} {meta[k]}{unit}" for k, _, sym in checks if meta.get(k) is not None]
        for key, ok, _sym in checks:
            if meta.get(key) is not None and not ok(value, meta[key]):
                _fail(source, path, value, " and ".join(bounds))
    if hasattr(value, "__len__") and not isinstance(value, str):
        n = len(value)
        if meta.get("min_len") is not None and n < meta["min_len"]:
            _fail(source, path, value, f"at least {meta['min_len']} item(s)")
        if meta.get("max_len") is not None and n > meta["max_len"]:
            _fail(source, path, value, f"at most {meta['max_len']} item(s)")


def _convert(tp, value, source, path, meta=None):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        errors = []
        for opt in options:
            try:
                return _convert(opt, value, source, path, meta)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        _fail(source, path, value, " or ".join(_type_name(o) for o in options))
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            _fail(source, path, value, _type_name(tp))
        return value
    if dataclasses.is_dataclass(tp):
        out = parse(tp, value, source=source, path=path)
        return out
    if tp is bool:
        if not isinstance(value, bool):
            _fail(source, path, value, "true or false")
        out = value
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                _fail(source, path, value, "an integer")
        out = int(value)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML 1.1 reads "1e9" (no dot) as a string; accept numeric strings explicitly.
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    _fail(source, path, value, "a number")
            else:
                _fail(source, path, value, "a number")
        out = float(value)
        if not math.isfinite(out):
            _fail(source, path, value, "a finite number")
    elif tp is str:
        if not isinstance(value, str):
            _fail(source, path, value, "a string")
        out = value
    elif origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            _fail(source, path, value, _type_name(tp))
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                _fail(source, path, value, f"a list of exactly {len(args)} items")
            out = tuple(_convert(a, v, source, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        else:
            item = args[0] if args else Any
            conv = [_convert(item, v, source, f"{path}[{i}]") for i, v in enumerate(value)]
            out = tuple(conv) if origin is tuple else conv
    elif origin is dict:
        if not isinstance(value, dict):
            _fail(source, path, value, "a mapping")
        kt, vt = args if args else (Any, Any)
        out = {_convert(kt, k, source, f"{path}.<key>"): _convert(vt, v, source, f"{path}.{k}")
               for k, v in value.items()}
    else:  # pragma: no cover - a programming error in a config class, not user input
        raise TypeError(f"config field {path}: unsupported type {tp!r}")
    _check_limits(out, meta, source, path)
    return out


def parse(cls, data, *, source: str | None = None, path: str = ""):
    """Validate ``data`` (a mapping, e.g. from YAML) into an instance of the config dataclass ``cls``.

    ``source`` (usually the file name) and ``path`` (dotted prefix) go into every error message.
    After field conversion, a ``validate(self)`` method on ``cls`` (if any) runs for cross-field
    checks; it should raise ConfigError via :meth:`ConfigError.bad_value`.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        _fail(source, path, data, _type_name(cls))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        _fail(source, f"{path}.{k}" if path else str(k), data[k],
              "no such field; known fields: " + ", ".join(fields))
    kwargs = {}
    for name, f in fields.items():
        fpath = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], source, fpath, f.metadata.get("hil"))
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{source + ': ' if source else ''}{fpath}: missing; required "
                              f"({_type_name(hints[name])})", field=fpath, source=source)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as exc:
            # Re-anchor a cross-field error to this object's path and file.
            fld = f"{path}.{exc.field}" if (path and exc.field) else (exc.field or path)
            if exc.allowed is not None:
                raise ConfigError.bad_value(fld, exc.value, exc.allowed, source=source) from None
            raise
    return obj


def to_dict(obj) -> Any:
    """The inverse of :func:`parse`: a plain dict/list structure, ready for YAML or JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
