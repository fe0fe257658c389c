"""Command-line options that can also come from environment variables.

Containers and CI services are configured with variables, and a secret in a
variable (or a file) stays out of ``ps`` and shell history. Each option of a
bound parser gets a variable named after its long option (``--admin-token``
is ``MOCKSERVER_ADMIN_TOKEN``), so an option added later gets one without
further code. The command line wins over the environment; a bad value is
exit code 2 with a message naming the variable, as a bad option is.
"""

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# A repeatable option's variable holds a list: "a.example, b.example" or "a b".
_LIST_SEPARATORS = re.compile(r"[,\s]+")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class EnvironmentParser(argparse.ArgumentParser):
    """An argparse parser whose bound options fall back to environment variables.

    ``environ`` is read when parsing (so tests can hand their own mapping);
    ``variables`` maps each variable to the option it stands for.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.variables: dict[str, argparse.Action] = {}
        self.environ: Mapping[str, str] = os.environ

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if not self.variables:
            return super().parse_known_args(args, namespace)
        namespace = namespace or argparse.Namespace()
        single, repeated = self._values_from_environment()
        # A value already in the namespace is argparse's default: an option on
        # the command line overwrites it, an absent one leaves it.
        for dest, value in single.items():
            setattr(namespace, dest, value)
        namespace, extras = super().parse_known_args(args, namespace)
        for action, values in repeated:
            # Appending copies the default first, so the very same object
            # means the option was not on the command line.
            if getattr(namespace, action.dest) is action.default:
                setattr(namespace, action.dest, values)
        return namespace, extras

    def _values_from_environment(
        self,
    ) -> tuple[dict[str, Any], list[tuple[argparse.Action, list[Any]]]]:
        single: dict[str, Any] = {}
        source: dict[str, str] = {}
        repeated: list[tuple[argparse.Action, list[Any]]] = []
        for variable, action in self.variables.items():
            text = self.environ.get(variable, "").strip()
            if not text:  # unset or empty, as `FOO=${FOO}` in a compose file gives
                continue
            if isinstance(action, argparse._AppendAction):
                parts = [part for part in _LIST_SEPARATORS.split(text) if part]
                repeated.append((action, [self._convert(variable, action, p) for p in parts]))
                continue
            if action.dest in source:
                self.error(f"{source[action.dest]} and {variable} are both set: set only one")
            source[action.dest] = variable
            single[action.dest] = self._convert(variable, action, text)
        return single, repeated

    def _convert(self, variable: str, action: argparse.Action, text: str) -> Any:
        """The option's value for ``text``, or exit code 2 naming ``variable``."""
        if action.nargs == 0:  # a flag such as --watch: yes or no
            if text.lower() in _TRUE:
                return action.const
            if text.lower() in _FALSE:
                return action.default
            self.error(f"{variable}: expected 1/0, true/false, yes/no or on/off, got {text!r}")
        try:
            value = action.type(text) if callable(action.type) else text
        except argparse.ArgumentTypeError as error:
            self.error(f"{variable}: {error}")
        except (TypeError, ValueError):
            self.error(f"{variable}: invalid value {text!r}")
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            self.error(f"{variable}: {text!r} is not one of {choices}")
        return value


def bind_environment(parser: argparse.ArgumentParser, prefix: str) -> None:
    """Give every option of ``parser`` (made by an EnvironmentParser's
    subparsers) a variable ``prefix + NAME``, shown in --help."""
    if not isinstance(parser, EnvironmentParser):
        raise TypeError("bind_environment needs an EnvironmentParser (parser_class=)")
    for action in parser._actions:
        long_options = [o for o in action.option_strings if o.startswith("--")]
        if not long_options or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        variable = prefix + long_options[0].removeprefix("--").replace("-", "_").upper()
        parser.variables[variable] = action
        shown = f"[env {variable}]"
        action.help = f"{action.help} {shown}" if action.help else shown
    parser.epilog = (
        "Every option can also be set with the environment variable shown next to it; "
        "the command line wins. A repeatable option's variable takes a list separated "
        "by commas or spaces; a flag's takes 1/0, true/false, yes/no or on/off."
    )


def secret_file(text: str) -> str:
    """An argparse type: the secret held in the file at ``text``.

    One trailing line end is dropped, as editors and ``echo`` add one.
    """
    path = Path(text)
    try:
        secret = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise argparse.ArgumentTypeError(f"cannot read {text}: {reason}") from None
    if not secret.strip():
        raise argparse.ArgumentTypeError(f"{text} is empty")
    return secret
