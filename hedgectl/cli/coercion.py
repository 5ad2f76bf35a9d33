"""Command-line values converted without pydantic, for the parameter types hedgectl's commands use.

Typer converts every value that is not a plain flag through a pydantic ``TypeAdapter`` built when the command runs;
importing pydantic and building the adapters costs a command 100-200 ms of its start. A value with one obvious
reading (a string, a plain decimal number within the option's bounds, a path, a list of these) is converted here to
exactly what Typer's conversion returns; any other value (a bad number, a bound crossed, a type not handled here) goes
to Typer's own conversion, so refusals and their messages stay Typer's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from math import isfinite
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

try:  # Typer's own conversion and path checks; with a Typer that lacks them, Typer converts every value itself
    from typer._coercion import build_runtime_param
    from typer._param_types import coerce_cli_path, lenient_issubclass, routes_to_path
except ImportError:
    build_runtime_param = None

if TYPE_CHECKING:
    from typer._coercion import RuntimeParam

#: Decimal integers as written (no sign but a minus, no leading zero, no separator) and decimals with digits on
#: both sides of the point: what both Python and pydantic read the same way; anything else goes to Typer.
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,17})\Z")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?\Z")


class _Undecided(Exception):
    """Internal: the value has no obvious reading here; Typer's conversion decides."""


class DirectRuntimeParam:
    """Stands in for Typer's runtime conversion of one parameter (``_TyperParameter._runtime_param``): the obvious
    values converted here, the rest by Typer's conversion, built only when such a value comes."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self._typer: RuntimeParam | None = None

    def typer_param(self) -> RuntimeParam:
        if self._typer is None:
            self._typer = build_runtime_param(self.descriptor)
        return self._typer

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        is_multi_value = param.multiple or param.nargs == -1
        if value is None:
            return () if is_multi_value else None  # as Typer's conversion answers an absent value
        if is_multi_value and isinstance(value, str):
            return self.typer_param().coerce(value, param=param, ctx=ctx)
        try:
            return self._convert(value, param, ctx)
        except _Undecided:
            return self.typer_param().coerce(value, param=param, ctx=ctx)

    def _convert(self, value: Any, param: Any, ctx: Any) -> Any:
        annotation = self.descriptor.annotation
        if get_origin(annotation) is list:
            (item_type,) = get_args(annotation)
            if not isinstance(value, (list, tuple)):
                raise _Undecided
            return [self._leaf(item_type, item, param, ctx) for item in value]
        return self._leaf(annotation, value, param, ctx)

    def _leaf(self, annotation: Any, value: Any, param: Any, ctx: Any) -> Any:
        info = self.descriptor.parameter_info
        if info.parser is not None:
            raise _Undecided  # the command's own parser, which Typer applies
        if annotation is str and type(value) is str:
            return value
        if annotation is bool and type(value) is bool:
            return value
        if annotation is int:
            if type(value) is int:
                number = value
            elif isinstance(value, str) and _INTEGER.match(value):
                number = int(value)
            else:
                raise _Undecided
            return self._within_bounds(number)
        if annotation is float:
            if type(value) is float and isfinite(value):
                number = value
            elif type(value) is int:
                number = float(value)
            elif isinstance(value, str) and _DECIMAL.match(value):
                number = float(value)
            else:
                raise _Undecided
            return self._within_bounds(number)
        if isinstance(annotation, type) and annotation not in (str, bool, int, float) \
                and routes_to_path(annotation, info):
            return self._path(annotation, value, param, ctx)
        raise _Undecided

    def _within_bounds(self, number: int | float) -> int | float:
        info = self.descriptor.parameter_info
        if info.clamp:
            raise _Undecided
        if info.min is not None and not number >= info.min:
            raise _Undecided
        if info.max is not None and not number <= info.max:
            raise _Undecided
        return number

    def _path(self, annotation: Any, value: Any, param: Any, ctx: Any) -> Any:
        info = self.descriptor.parameter_info
        path_type = info.path_type
        if path_type is None and lenient_issubclass(annotation, Path):
            path_type = annotation
        if path_type is not Path or not isinstance(value, str) or value in ("", "-") or "\x00" in value:
            raise _Undecided
        # Typer reads the string into a Path through pydantic, which is Path(value); the checks after it are Typer's
        return coerce_cli_path(Path(value), info, path_type=path_type, param=param, ctx=ctx)


def _commands(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _commands(sub)


def install(command: Any) -> Any:
    """Give every Typer parameter of ``command`` and of its subcommands the conversion above, their help options
    (made when a command line is parsed) included. Returns ``command``."""
    for each in _commands(command):
        install_params(each.params)
        each.get_help_option = with_help_option_installed(each.get_help_option)
    return command


def with_help_option_installed(get_help_option: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``get_help_option`` whose option has the conversion above: the option is a flag whose value is None when
    absent, which Typer's conversion would answer by building its adapter."""

    def installed(ctx: Any) -> Any:
        option = get_help_option(ctx)
        if option is not None:
            install_params([option])
        return option

    return installed


def install_params(parameters: Iterable[Any]) -> None:
    """Give each Typer parameter the conversion above; a parameter Typer does not convert this way (a file, or one
    whose conversion is already built) keeps its own."""
    if build_runtime_param is None:
        return
    for parameter in parameters:
        descriptor = getattr(parameter, "type_descriptor", None)
        if descriptor is None or descriptor.file_annotation is not None:
            continue
        if getattr(parameter, "_runtime_param", False) is None:
            parameter._runtime_param = DirectRuntimeParam(descriptor)
