"""One configuration system: typed dataclasses whose fields declare themselves, one checked way to build or
override them.

- :func:`param` declares a field with its description and constraints (bounds, and choices, which a
  ``Literal`` type hint gives by itself); the ROS node declares every such field as a parameter with a
  description and a range, ``hpe track --param`` and ``hpe train --set`` override them, all through the same
  checks.
- :func:`from_dict` builds a (nested) config dataclass from plain data (YAML, ``--set``), converting and
  checking every value against the field's type hint and constraints; unknown keys are an error.
- :func:`with_overrides` applies flat ``{"group.name": value}`` assignments to a config;
  :func:`parameter_specs` lists the flat parameters of a config (name, value, description, constraints).

Bad values raise :class:`~hpe_ros.errors.InputError` naming the parameter and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import yaml

from hpe_ros.errors import InputError

C = TypeVar("C")
Scalar = bool | int | float | str
ROS_TYPE_NAMES = {bool: "bool", int: "integer", float: "double", str: "string"}


@dataclass(frozen=True)
class Constraints:
    """What a declared field accepts beyond its type: bounds, choices, a custom rule; whether it is fixed at
    start-up (``read_only``: the node refuses to change it while running)."""

    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    read_only: bool = False
    rule: Callable[[Any], str | None] | None = None
    """What is wrong with a value, worded to follow the parameter's name ("must be ..."), or None."""


def param(
    default: Any,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Iterable[Any] = (),
    read_only: bool = False,
    rule: Callable[[Any], str | None] | None = None,
) -> Any:
    """A dataclass field with a description and constraints (mutable defaults become a default factory)."""
    constraints = Constraints(description, minimum, maximum, tuple(choices), read_only, rule)
    metadata = {"param": constraints}
    if dataclasses.is_dataclass(default) or isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: _copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _copy(value: Any) -> Any:
    return dataclasses.replace(value) if dataclasses.is_dataclass(value) else type(value)(value)


@dataclass(frozen=True)
class ParameterSpec:
    """One flat parameter of a config: ``group.name``, its current value, type and constraints."""

    name: str
    default: Scalar
    hint: Any
    constraints: Constraints

    @property
    def description(self) -> str:
        return self.constraints.description

    @property
    def read_only(self) -> bool:
        return self.constraints.read_only

    @property
    def minimum(self) -> float | None:
        return self.constraints.minimum

    @property
    def maximum(self) -> float | None:
        return self.constraints.maximum

    @property
    def choices(self) -> tuple[Any, ...]:
        return _choices(self.hint, self.constraints)

    @property
    def ros_type(self) -> str:
        """The ROS parameter type name: bool, integer, double or string."""
        return ROS_TYPE_NAMES[type(self.default)]

    @property
    def constraints_text(self) -> str:
        """The constraints in words (ParameterDescriptor.additional_constraints)."""
        parts = []
        if self.choices:
            parts.append(f"one of: {', '.join(map(str, self.choices))}")
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        return "; ".join(parts)

    def check(self, value: Any) -> str | None:
        """The problem with ``value`` for this parameter, or None."""
        try:
            _convert(value, self.hint, self.name, self.constraints)
        except InputError as error:
            return str(error)
        return None


def _choices(hint: Any, constraints: Constraints | None) -> tuple[Any, ...]:
    if constraints is not None and constraints.choices:
        return constraints.choices
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else ()


def _check_constraints(value: Any, where: str, constraints: Constraints | None, hint: Any) -> Any:
    choices = _choices(hint, constraints)
    if choices and value not in choices:
        raise InputError(f"{where} must be one of {', '.join(map(str, choices))}, got {value!r}")
    if constraints is None:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where} must be finite, got {value!r}")
    if constraints.minimum is not None and value < constraints.minimum:
        raise InputError(f"{where} must be >= {constraints.minimum:g}, got {value!r}")
    if constraints.maximum is not None and value > constraints.maximum:
        raise InputError(f"{where} must be <= {constraints.maximum:g}, got {value!r}")
    problem = constraints.rule(value) if constraints.rule is not None else None
    if problem:
        raise InputError(f"{where} {problem}")
    return value


def _convert(value: Any, hint: Any, where: str, constraints: Constraints | None = None) -> Any:
    """``value`` checked against (and coerced to) the type ``hint`` and the field's constraints."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _convert(value, next(a for a in args if a is not type(None)), where, constraints)
    if origin is Literal:
        return _check_constraints(value, where, constraints, hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {value!r}")
        item_types = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        if len(item_types) != len(value):
            raise InputError(f"{where}: expected {len(item_types)} values, got {len(value)}")
        return tuple(_convert(v, t, where) for v, t in zip(value, item_types, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float:
        try:  # YAML 1.1 reads "1e-3" (no dot) as a string
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            value = float(value)
        except ValueError:
            raise InputError(f"{where} must be a number, got {value!r}") from None
    elif hint in (int, str, bool) and type(value) is not hint:
        raise InputError(f"{where} must be of type {ROS_TYPE_NAMES[hint]}, got {value!r}")
    return _check_constraints(value, where, constraints, hint)


def _constraints(item: dataclasses.Field) -> Constraints | None:
    return item.metadata.get("param")


class Checked:
    """Base of config dataclasses: construction checks every declared field against its type and constraints
    (cross-field rules go in a subclass's ``__post_init__``, after ``super().__post_init__()``)."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value, constraints = getattr(self, item.name), _constraints(item)
            if constraints is not None and not dataclasses.is_dataclass(value):
                _convert(value, hints[item.name], item.name, constraints)


def from_dict(cls: type[C], data: Any, where: str = "config") -> C:
    """A ``cls`` instance from nested plain data: every value converted and checked, unknown keys refused."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    items = {item.name: item for item in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(items))
    if unknown:
        raise InputError(f"{where}: unknown keys {unknown}; known: {sorted(items)}")
    values = {
        name: _convert(value, hints[name], f"{where}.{name}" if where else name, _constraints(items[name]))
        for name, value in data.items()
    }
    try:
        return cls(**values)
    except TypeError as error:
        raise InputError(f"{where}: {error}") from None


def assign(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Nested ``data`` with flat ``{"group.name": value}`` assignments applied in place (groups created)."""
    for name, value in values.items():
        node = data
        *groups, leaf = name.split(".")
        for group in groups:
            node = node.setdefault(group, {})
            if not isinstance(node, dict):
                raise InputError(f"{name}: {group} is not a group of parameters")
        node[leaf] = value
    return data


def with_overrides(config: C, values: dict[str, Any]) -> C:
    """``config`` with flat ``{"group.name": value}`` assignments applied, every value checked."""
    known = {spec.name for spec in parameter_specs(config)}
    unknown = [name for name in values if name not in known]
    if unknown:
        raise InputError(f"unknown parameter {unknown[0]!r} of {type(config).__name__}")
    return from_dict(type(config), assign(dataclasses.asdict(config), values), where="")


def parameter_specs(config: Any, prefix: str = "") -> list[ParameterSpec]:
    """The flat parameters (``group.name``) of a config with their current values, types and constraints."""
    hints = typing.get_type_hints(type(config))
    specs = []
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            specs += parameter_specs(value, f"{prefix}{item.name}.")
        else:
            constraints = _constraints(item) or Constraints("")
            specs.append(ParameterSpec(f"{prefix}{item.name}", value, hints[item.name], constraints))
    return specs


def parse_assignments(items: Iterable[str], flag: str = "--set") -> dict[str, Any]:
    """``["group.name=value", ...]`` as ``{"group.name": value}``, values parsed as YAML scalars."""
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"{flag} needs NAME=VALUE, got {item!r}")
        values[name.strip()] = yaml.safe_load(text)
    return values
