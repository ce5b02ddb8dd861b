"""Shared pieces of the command line: the parser class, argument types and option groups.

Each command module (`cli/*.py`) imports these so every command reports bad
arguments the same way: one `error: ...` line and exit code 2.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, NoReturn

from gan_eval.errors import GanEvalError

if TYPE_CHECKING:
    from gan_eval.extraction import ExtractionOptions

EXIT_USAGE = 2
BOOTSTRAP_DEPRECATED = (
    "warning: --bootstrap is deprecated and B is ignored: the FID interval is now a grouped jackknife "
    "(--ci and --ci-groups G in `report`, --ci-groups G in `gate`), because the bootstrap's interval missed its "
    "own estimate (docs/metrics.md)"
)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends an option's line with its default, unless it has none or the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if unset or not action.option_strings or "default" in text:
            return text
        return f"{text} (default: %(default)s)"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # argparse's own wrapping breaks at hyphens, which cuts names such as clip-vitl14-336 in two.
        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width, break_on_hyphens=False)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2, and each option's default in `--help`."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        # `--float-range -1,1` as the help writes it: without this, argparse takes "-1,1" for an option.
        self._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+[,:]\d+$")

    def error(self, message: str) -> NoReturn:
        line = f"{message} (see {self.prog} --help)"
        print(f"error: {line}", file=sys.stderr)
        raise UsageExit(line)


class UsageExit(SystemExit):
    """argparse's refusal of the command line (exit code 2), carrying the message it printed."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message


def float_range(text: str) -> tuple[float, float]:
    if text in ("0,1", "0:1"):
        return (0.0, 1.0)
    if text in ("-1,1", "-1:1"):
        return (-1.0, 1.0)
    raise argparse.ArgumentTypeError(f"{text!r}: use 0,1 or -1,1")


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


def probability(text: str) -> float:
    """A number strictly between 0 and 1 (a confidence level)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be between 0 and 1")
    return value


def choices_help(names: Iterable[str]) -> str:
    """`choices: a, b, c` for an option's help: a registry's names as they are when the parser is built."""
    return f"choices: {', '.join(names)}"


def builtin_sets_help() -> str:
    """The built-in image sets an input may name, for the help of REAL, FAKE and the like."""
    from gan_eval.datasets import BUILTIN_IMAGE_SETS

    return f"built-in sets: {', '.join(BUILTIN_IMAGE_SETS)}"


def add_extraction_options(parser: argparse.ArgumentParser, several_spaces: bool = False) -> None:
    """The options of `gan_eval.ExtractionOptions` (cache aside: `add_cache_option`).

    `several_spaces`: the command takes `--features a,b` (each space computed from one decode pass).
    """
    from gan_eval.extractors.base import PRECISIONS
    from gan_eval.extractors.registry import DEFAULT_FEATURES, EXTRACTORS

    what = "feature spaces, comma-separated, side by side from one decode pass" if several_spaces else "feature space"
    parser.add_argument(
        "--features",
        default=DEFAULT_FEATURES,
        metavar="NAME[,NAME]" if several_spaces else "NAME",
        help=f"{what}; {choices_help(EXTRACTORS)}",
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:INDEX (default: cuda when present)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="network precision (default: tf32 on CUDA, exact on CPU)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, help="images per forward pass (default: 64 on CPU, 500 on GPU)"
    )
    parser.add_argument(
        "--workers", type=non_negative_int, help="decoding processes (default: 1 on CPU, up to 16 on GPU)"
    )
    parser.add_argument(
        "--weights",
        action="append",
        metavar="[NAME=]PATH",
        help="weights file of feature space NAME; a bare PATH is the first --features space's; repeat the option "
        "for several spaces (default: each space's environment variable, such as $GAN_EVAL_WEIGHTS for "
        "Inception, then the cache; docs/weights.md)",
    )
    parser.add_argument(
        "--float-range",
        type=float_range,
        default=(0.0, 1.0),
        metavar="LO,HI",
        help="value range of float arrays: 0,1 (default) or -1,1",
    )
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable image files and count them")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    """`--no-cache`: neither read nor write the feature cache."""
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")


def feature_spaces(args: argparse.Namespace) -> list[str]:
    """The feature spaces of `--features a,b` in the order given."""
    return [name.strip() for name in args.features.split(",") if name.strip()] or [""]


def _split_weights(text: str) -> tuple[str | None, str]:
    """`--weights NAME=PATH` as (NAME, PATH), a bare `--weights PATH` as (None, PATH).

    Text before the first `=` that holds a path separator is part of a path (`./a=b.pth` is a bare path).
    """
    name, equals, path = text.partition("=")
    if not equals or "/" in name or "\\" in name:
        return None, text
    if not path:
        raise GanEvalError(f"--weights {text}: give the file after {name}=")
    return name, path


def weights_by_space(given: list[str] | None, spaces: list[str]) -> dict[str, str]:
    """The repeated `--weights [NAME=]PATH` as feature space -> file; a bare PATH is `spaces[0]`'s."""
    weights: dict[str, str] = {}
    for text in given or ():
        name, path = _split_weights(text)
        space = spaces[0] if name is None else name
        if space in weights:
            raise GanEvalError(f"--weights {text}: {space} already has weights {weights[space]}")
        weights[space] = path
    return weights


def extraction_options(args: argparse.Namespace, features: str | None = None) -> ExtractionOptions:
    """The `ExtractionOptions` that the extraction and cache options set, validated (one place for every command).

    `features`: one space of a `--features a,b` list; without it `--features` must name one space.
    Every `--weights NAME=PATH` must name a space of `--features`.
    """
    from gan_eval.extraction import ExtractionOptions

    spaces = feature_spaces(args)
    if features is None and len(spaces) > 1:
        raise GanEvalError(f"--features {args.features}: this command computes in one feature space; name one")
    options = ExtractionOptions(
        features=args.features if features is None else features,
        weights=weights_by_space(args.weights, spaces),
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=not args.quiet,
        skip_bad=args.skip_bad,
        value_range=args.float_range,
        cache=not args.no_cache,
    )
    for space, path in options.weights.items():
        if space not in spaces:
            raise GanEvalError(f"--weights {space}={path}: {space} is not among --features {args.features}")
    return options
