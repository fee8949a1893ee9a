"""Command-line options derived from the configuration dataclasses, so that no default is written twice.

A config dataclass documents each field in its metadata (`help`, and `internal` for fields users do not
set, `runtime` for settings that do not change the result, `flag` for a custom option name (with its leading
dashes: the whole name, without the group's prefix), `nested`
for a nested config). `OptionGroup` turns a dataclass into typer options (one per field, named after
it, with its default and help) and back into a config object from the parsed values; `with_options`
adds the options of several groups to a typer command.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Annotated, Any

import typer

from axialsr.errors import AxialSRError


@dataclass(frozen=True)
class OptionGroup:
    """The options of one config dataclass `cls`, passed to the command as keyword `key`.

    `prefix` goes before every option name (and parameter name); `skip` fields get no option (the
    command sets them, or they keep their default); `fixed` fields are set to these values; `defaults`
    replaces a field's default (e.g. a command's own default method)."""

    cls: type
    key: str
    prefix: str = ""
    skip: tuple[str, ...] = ()
    fixed: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    panel: str | None = None

    def option_fields(self) -> list[tuple[str, Any, str, dict]]:
        """(parameter name, field, path, metadata) for every field that gets an option, nested ones flattened
        (path is 'outer.inner' for those)."""
        out = []
        for f, path in _walk(self.cls):
            meta = dict(f.metadata)
            name = path.split(".")[-1]
            if meta.get("internal") or path in self.skip or name in self.skip or path in self.fixed:
                continue
            out.append((_param_name(self.prefix, name), f, path, meta))
        return out

    def parameters(self) -> list[inspect.Parameter]:
        params = []
        instance = self.cls()
        for pname, f, path, meta in self.option_fields():
            default = self.defaults.get(path, _get(instance, path))
            kind, converted_default = _cli_type(f.type, default)
            flag = meta.get("flag") or path.split(".")[-1]
            # a flag given with its dashes is the option's whole name (no group prefix)
            flag = flag if flag.startswith("--") else "--" + self.prefix + flag.replace("_", "-")
            flags = (f"{flag}/--no-{flag[2:]}",) if kind is bool else (flag,)
            option = typer.Option(*flags, help=meta.get("help", ""), rich_help_panel=self.panel)
            params.append(
                inspect.Parameter(
                    pname, inspect.Parameter.KEYWORD_ONLY, default=converted_default, annotation=Annotated[kind, option]
                )
            )
        return params

    def build(self, values: dict[str, Any], **overrides: Any) -> Any:
        """The config object from parsed values (popped from `values`), fixed values and `overrides`
        (field name -> value, applied to every nested config that has the field)."""
        settings: dict[str, Any] = {}
        for pname, f, path, _ in self.option_fields():
            raw = values.pop(pname)
            settings[path] = _from_cli(f.type, raw, path)
        settings.update(self.fixed)
        return _construct(self.cls, settings, overrides)


def _walk(cls: type, prefix: str = "") -> list[tuple[Any, str]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        f_type = hints[f.name]
        f = _with_type(f, f_type)
        path = prefix + f.name
        if f.metadata.get("nested") and is_dataclass(f_type):
            out += _walk(f_type, path + ".")
        else:
            out.append((f, path))
    return out


def _with_type(f, resolved):
    clone = field(default=f.default, default_factory=f.default_factory, metadata=f.metadata)
    clone.name = f.name
    clone.type = resolved
    return clone


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _param_name(prefix: str, name: str) -> str:
    return (prefix.replace("-", "_") + name) if prefix else name


def _cli_type(annotation: Any, default: Any) -> tuple[type, Any]:
    """The type typer parses for a field, and the default in that type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = origin in (typing.Union, types.UnionType) and len(typing.get_args(annotation)) > len(args)
    if optional:
        inner, inner_default = _cli_type(args[0], default)
        return inner | None, inner_default  # type: ignore[return-value]
    if origin is tuple:
        return str, ",".join(str(v) for v in default) if default is not None else None
    if annotation in (int, float, str, bool):
        return annotation, default
    raise TypeError(f"no command-line type for {annotation}")


def _from_cli(annotation: Any, raw: Any, path: str) -> Any:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return None if raw is None else _from_cli(args[0], raw, path)
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        text = str(raw).lower().replace("x", ",") if item in (int, float) else str(raw)
        try:
            return tuple(item(v.strip()) for v in text.split(",") if v.strip())
        except ValueError:
            raise AxialSRError(f"{path.split('.')[-1]} must be a comma list, got '{raw}'") from None
    return raw


def setting_fields(cls: type) -> list[tuple[str, Any, Any, str]]:
    """(name, type, default, help) of the fields of the config dataclass `cls` a person sets (not `internal`,
    not `runtime`, not nested): what a front end shows besides the command line.

    Examples
    --------
    >>> from axialsr.methods.lateral import LateralConfig
    >>> [name for name, *_ in setting_fields(LateralConfig)]
    ['planes', 'flips']
    """
    hints = typing.get_type_hints(cls)
    instance = cls()
    out = []
    for f in fields(cls):
        meta = f.metadata
        if meta.get("internal") or meta.get("runtime") or meta.get("nested"):
            continue
        out.append((f.name, hints[f.name], getattr(instance, f.name), meta.get("help", "")))
    return out


def text_of(value: Any) -> str:
    """A setting's value as a person types it: '' for None, a comma list for a tuple."""
    if value is None:
        return ""
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def value_of(annotation: Any, text: str, name: str) -> Any:
    """The value of a setting of type `annotation` from the text a person typed (`text_of` reversed):
    '' is None for an optional setting; AxialSRError naming the setting when the text does not parse.

    Examples
    --------
    >>> value_of(int | None, "", "batch"), value_of(float, "2e-3", "lr"), value_of(tuple[str, ...], "xz", "planes")
    (None, 0.002, ('xz',))
    """
    kind, _ = _cli_type(annotation, None)
    if not text.strip():
        if type(None) in typing.get_args(kind):
            return None
        raise AxialSRError(f"{name} needs a value")
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    if base is bool:
        return text.strip().lower() in ("1", "true", "yes", "on")
    try:
        raw = base(text.strip()) if base in (int, float) else text.strip()
    except ValueError:
        raise AxialSRError(f"{name} must be a number, got '{text}'") from None
    return _from_cli(annotation, raw, name)


def _construct(cls: type, settings: dict[str, Any], overrides: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        path = prefix + f.name
        if f.metadata.get("nested") and is_dataclass(hints[f.name]):
            kwargs[f.name] = _construct(hints[f.name], settings, overrides, path + ".")
        elif path in settings:
            kwargs[f.name] = settings[path]
        elif f.name in overrides:
            kwargs[f.name] = overrides[f.name]
        elif f.default is MISSING and f.default_factory is MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has no value")
    return cls(**kwargs)


def with_options(*groups: OptionGroup, gather: str | None = None) -> Callable[[Callable], Callable]:
    """Decorate a typer command: add the options of `groups` to its signature; the command receives each
    group's parsed values as a dict under the group's key (call `group.build(values)` to make the config).
    With `gather`, the groups whose key is not a parameter of the command (e.g. one per settings section,
    which a command cannot list in advance) arrive together as one dict {group key: values} under `gather`."""

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        keys = {g.key for g in groups} | ({gather} if gather else set())
        gathered = [g for g in groups if gather and g.key not in sig.parameters]
        own = [p for p in sig.parameters.values() if p.name not in keys]
        extra = [p for g in groups for p in g.parameters()]
        names = [p.name for p in own + extra]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise TypeError(f"{fn.__name__}: options defined twice: {sorted(duplicates)}")

        def command(**kwargs: Any) -> Any:
            values = {group.key: {p.name: kwargs.pop(p.name) for p in group.parameters()} for group in groups}
            if gather:
                kwargs[gather] = {g.key: values.pop(g.key) for g in gathered}
            return fn(**kwargs, **values)

        command.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
        command.__name__ = fn.__name__
        command.__doc__ = fn.__doc__
        command.__module__ = fn.__module__
        return command

    return decorate
