"""Argument parsing shared by ``bayes_core.cli`` and ``bayes_core.jobs.cli`` (no import circle).

Every parser is a ``Parser``: abbreviations are off (``--target`` is a model option, never a
prefix of ``--target-accept``), and a usage error raises ``UsageError`` instead of exiting, so the
CLI can print it as ``{"error": ...}`` under ``--json``. Paths given on the command line are checked
here (folder instead of file, unreadable, a parent that is a file) so each ends in a clear message.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, NoReturn

from bayes_core.errors import BayesCoreError, DataValidationError
from bayes_core.settings import METHODS, SAMPLERS



class UsageError(BayesCoreError):
    """Command-line arguments argparse refused. ``usage`` is the usage line of the (sub)command."""

    def __init__(self, message: str, usage: str = "", prog: str = ""):
        self.message, self.usage, self.prog = message, usage.strip(), prog
        hint = f" Run `{prog} --help` for the usage." if prog else ""
        super().__init__(f"{message}.{hint}")

    def of_command(self, parser: argparse.ArgumentParser | None) -> UsageError:
        """This error with the usage of the (sub)command that parsed the line, where it has none yet
        (leftover arguments are refused after parsing, away from the parser)."""
        if self.prog or parser is None:
            return self
        return UsageError(self.message, parser.format_usage(), parser.prog)


class Parser(argparse.ArgumentParser):
    """``ArgumentParser`` without abbreviations whose errors raise ``UsageError``. Sub-parsers made
    with ``add_subparsers().add_parser`` are of this class too (argparse uses the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage(), self.prog)

    def parse_known_args(self, args=None, namespace=None):
        """As argparse's, with the innermost (sub)command's parser kept as ``command_parser`` (sub-parsers
        finish first, so the first to set it is the one whose usage fits the line)."""
        namespace, extra = super().parse_known_args(args, namespace)
        if getattr(namespace, "command_parser", None) is None:
            namespace.command_parser = self
        return namespace, extra


def whole_number(low: int, high: int):
    """An argparse ``type`` for a bounded whole number: a value outside refused as a usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not from {low} to {high}")
        return value
    parse.__name__ = "whole number"
    return parse


def no_extra_arguments(extra: list[str] | None) -> None:
    """Refuse leftover arguments of a command that takes no model options (e.g. ``list --js``)."""
    if extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}")


# -- training flags (train and jobs submit) -------------------------------------------------------
def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``jobs submit``. Model options are parsed afterwards from what
    is left (``parse_model_options``), so they can never be taken for one of these."""
    p.add_argument("model_id")
    p.add_argument("--data", type=Path, help="CSV with the model's columns (default: example data)")
    p.add_argument("--draws", type=int)
    p.add_argument("--tune", type=int)
    p.add_argument("--chains", type=int)
    p.add_argument("--target-accept", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--sampler", choices=SAMPLERS)
    p.add_argument("--method", choices=METHODS, help="mcmc (NUTS, default) or approximate (ADVI: a quick look in "
                                                     "seconds; the run is marked approximate)")
    device = p.add_mutually_exclusive_group()
    device.add_argument("--gpu", dest="device", action="store_const", const="gpu")
    device.add_argument("--cpu", dest="device", action="store_const", const="cpu")


def training_flags() -> set[str]:
    """Every flag ``add_training_arguments`` defines (a model option must not use one of them)."""
    probe = Parser(add_help=True)
    add_training_arguments(probe)
    probe.add_argument("--json")
    probe.add_argument("--data-run")
    return {flag for action in probe._actions for flag in action.option_strings}


def training_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in dict(draws=args.draws, tune=args.tune, chains=args.chains,
                                  target_accept=args.target_accept, seed=args.seed,
                                  sampler=args.sampler, device=args.device, method=args.method).items()
            if v is not None}


def option_flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def parse_model_options(model_id: str, extra: list[str]) -> dict[str, Any]:
    """Turn leftover ``--option-name value`` flags into the model's options (validated later)."""
    from bayes_core.registry import get_registry

    meta = get_registry().get_model_metadata(model_id)
    taken = training_flags()
    parser = Parser(prog=f"train {model_id}", add_help=False)
    for spec in meta.model_options:
        flag = option_flag(spec.name)
        if flag in taken:
            raise BayesCoreError(f"The model option {spec.name!r} of {model_id} cannot be given on the command line: "
                                 f"{flag} is a training flag. Rename the option in the model's config.yaml.")
        parser.add_argument(flag, dest=spec.name, help=spec.help_text)
    ns, unknown = parser.parse_known_args(extra)
    if unknown:
        names = ", ".join(option_flag(s.name) for s in meta.model_options) or "none"
        raise BayesCoreError(f"Unknown argument(s) {' '.join(unknown)}; options of {model_id}: {names}.")
    return {spec.name: getattr(ns, spec.name) for spec in meta.model_options if getattr(ns, spec.name) is not None}


# -- paths ----------------------------------------------------------------------------------------
def _blocking_file(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` (or itself) that is not a folder: it makes creating
    ``path`` as a folder impossible. None when there is none."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def readable_file(path: Path, flag: str) -> Path:
    """``path`` if it is a readable file; else a message naming the flag and what to give instead."""
    if not path.exists():
        raise DataValidationError([f"file not found: {path}"], what=f"{flag} file")
    if path.is_dir():
        raise BayesCoreError(f"{flag} {path} is a folder: give a CSV file.")
    if not path.is_file():  # a device (/dev/zero never ends) or a pipe (may never send anything)
        raise BayesCoreError(f"{flag} {path} is not a regular file (a device or a pipe): give a CSV file.")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise BayesCoreError(f"{flag} {path} cannot be read ({exc.strerror or exc}): check its permissions, "
                             "or give another file.") from exc
    return path


def read_file_bytes(path: Path, flag: str) -> bytes:
    readable_file(path, flag)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BayesCoreError(f"{flag} {path} cannot be read ({exc.strerror or exc}).") from exc


def check_output(path: Path, flag: str = "--out") -> Path:
    """Refuse an output path that cannot be written, before any work: a folder, a file standing where
    a folder is needed, a read-only folder. A missing folder is fine (the writer creates it)."""
    if path.is_dir():
        raise BayesCoreError(f"{flag} {path} is a folder: give a file name, e.g. {path / 'predictions.csv'}.")
    blocking = _blocking_file(path.parent)
    if blocking is not None:
        raise BayesCoreError(f"{flag} {path} cannot be written: {blocking} is a file, not a folder. "
                             "Choose another path.")
    existing = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK):
        raise BayesCoreError(f"{flag} {path} cannot be written: the folder {existing} is read-only.")
    return path


def check_artifacts_root() -> Path:
    """The artifacts root, refused with a clear message when a file stands in its place."""
    from bayes_core import artifacts

    root = artifacts.artifacts_root()
    blocking = _blocking_file(root)
    if blocking is not None:
        raise BayesCoreError(f"The artifacts folder {root} cannot be used: {blocking} is a file, not a folder. Set "
                             "BAYES_ARTIFACTS_DIR to a folder (it is created when missing), or move the file away.")
    return root
