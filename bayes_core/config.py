"""The schema of ``model_configs/<model_id>/config.yaml``, validated with pydantic.

One file describes one model: what the catalogue shows, the inference form, the training defaults,
the prior hyper-parameters and model options. Every problem in a file is reported at once, with the
file and the field named, and an unknown key gets a "did you mean" hint.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bayes_core.errors import ConfigError
from bayes_core.settings import SamplerSettings

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "model_configs"

MODEL_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The module starts with a letter: ``__init__``/``__main__`` would run a package's code again as a new module.
MODEL_CLASS_PATTERN = re.compile(r"^bayes_core\.models\.[a-z][a-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*$")

# A config is a short hand-written file: anything far bigger or deeper is a mistake or an attack,
# refused before it can exhaust memory or the interpreter's recursion limit.
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_DEPTH = 32

ParamType = Literal["integer", "float", "string", "select", "boolean"]
Scalar = int | float | str | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InferenceParameter(_Strict):
    """One field of a generated form (inference parameters and model options share this shape)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: ParamType
    label: str | None = None
    default: Scalar = None
    required: bool = True
    min_value: float | None = None
    max_value: float | None = None
    options: list[Scalar] | None = None
    # For select fields whose options depend on the trained run (e.g. the entities it saw).
    options_from_run: bool = False
    help_text: str = ""

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @model_validator(mode="after")
    def _consistent(self) -> "InferenceParameter":
        problems = []
        lo, hi = self.min_value, self.max_value
        if (lo is not None or hi is not None) and self.type not in ("integer", "float"):
            problems.append(f"min_value/max_value only apply to integer and float, not {self.type}")
        if lo is not None and hi is not None and lo > hi:
            problems.append(f"min_value {lo} is greater than max_value {hi}")
        if self.type == "select":
            if not self.options and not self.options_from_run:
                problems.append("a select parameter needs options (or options_from_run: true)")
            if self.options and self.default is not None and self.default not in self.options:
                problems.append(f"default {self.default!r} is not one of the options {self.options}")
        elif self.options is not None:
            problems.append(f"options only apply to select parameters, not {self.type}")
        if self.default is not None:
            problems.extend(_default_type_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _default_type_problems(p: InferenceParameter) -> list[str]:
    d = p.default
    if p.type == "boolean" and not isinstance(d, bool):
        return [f"default {d!r} is not a boolean"]
    if p.type == "integer" and (isinstance(d, bool) or not isinstance(d, int)):
        return [f"default {d!r} is not an integer"]
    if p.type == "float" and (isinstance(d, bool) or not isinstance(d, (int, float))):
        return [f"default {d!r} is not a number"]
    if p.type == "string" and not isinstance(d, str):
        return [f"default {d!r} is not a string"]
    if p.type in ("integer", "float"):
        if p.min_value is not None and d < p.min_value:
            return [f"default {d} is below min_value {p.min_value}"]
        if p.max_value is not None and d > p.max_value:
            return [f"default {d} is above max_value {p.max_value}"]
    return []


class TrainingSettings(SamplerSettings):
    """Training defaults of a model: the sampler settings (bounds in ``settings.py``) plus the size
    of the saved posterior predictive. ``default_iterations``/``warmup`` are accepted as the old
    names of ``draws``/``tune``."""

    draws: int = Field(2000, validation_alias=AliasChoices("draws", "default_iterations"))
    tune: int = Field(1000, validation_alias=AliasChoices("tune", "warmup"))
    # Draws kept for the posterior predictive group of a saved run (thinned evenly).
    posterior_predictive_draws: int = Field(500, ge=0, le=100_000)

    @model_validator(mode="before")
    @classmethod
    def _one_name_each(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for new, old in (("draws", "default_iterations"), ("tune", "warmup")):
                if new in values and old in values:
                    raise ValueError(f"give {new} or its old name {old}, not both")
        return values

    def sampler_settings(self) -> dict[str, Any]:
        """The sampler settings alone (no predictive size), as ``training_settings`` merges them."""
        return self.model_dump(include=set(SamplerSettings.model_fields))


class ModelMetadata(_Strict):
    model_id: str
    name: str = Field(min_length=1)
    description: str = ""
    version: str = Field(min_length=1)
    author: str = ""
    status: Literal["active", "beta", "deprecated"] = "active"
    tags: list[str] = Field(default_factory=list)
    model_class: str
    inference_params: list[InferenceParameter] = Field(default_factory=list)
    # Model-specific options (parameterisation, columns, windows): a form on the training page.
    model_options: list[InferenceParameter] = Field(default_factory=list)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    # Names and signs are checked against the model class's ``prior_constraints`` by the registry.
    priors: dict[str, float] = Field(default_factory=dict)
    config_path: str | None = None
    config_hash: str | None = None

    @field_validator("model_id")
    @classmethod
    def _model_id(cls, v: str) -> str:
        if not MODEL_ID_PATTERN.match(v):
            raise ValueError(
                f"model id {v!r} must match {MODEL_ID_PATTERN.pattern} "
                "(lower-case letters, digits and underscores; rename the directory)"
            )
        return v

    @field_validator("model_class")
    @classmethod
    def _model_class(cls, v: str) -> str:
        if not MODEL_CLASS_PATTERN.match(v):
            raise ValueError(
                f"model_class {v!r} must be 'bayes_core.models.<module>:<Class>'; "
                "classes outside bayes_core.models are refused"
            )
        return v

    @field_validator("inference_params", "model_options")
    @classmethod
    def _unique_names(cls, v: list[InferenceParameter]) -> list[InferenceParameter]:
        seen, dupes = set(), []
        for p in v:
            if p.name in seen:
                dupes.append(p.name)
            seen.add(p.name)
        if dupes:
            raise ValueError(f"duplicate parameter names: {', '.join(sorted(set(dupes)))}")
        return v

    @field_validator("priors")
    @classmethod
    def _finite_priors(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [f"{k} = {x}" for k, x in v.items() if not math.isfinite(x)]
        if bad:
            raise ValueError(f"priors must be finite numbers: {', '.join(bad)}")
        return v

    def inference_param(self, name: str) -> InferenceParameter:
        return next(p for p in self.inference_params if p.name == name)

    def option_defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.model_options}


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names valid at ``loc`` (for the "did you mean" hint)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) else None
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            return []
    return list(current.model_fields) if current else []


def format_validation_errors(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = [k for k in _allowed_keys(model, loc) if k not in ("model_id", "config_path", "config_hash")]
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
            problems.append(f"{field}: unknown key{hint}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {msg}")
    return problems


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses what a hand-written config never needs and an attack uses:
    aliases (the "billion laughs" expansion), nesting deeper than ``MAX_CONFIG_DEPTH`` (a
    ``RecursionError`` in the composer) and a key given twice in one mapping (silently last-wins)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not allowed in a model config; "
                "write the value out where it is used", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_CONFIG_DEPTH} levels deep; a model config is "
                    "a few levels of keys and lists", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        first_line: dict = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # non-scalar keys: the base class says "unhashable key"
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first_line[key]}, again at line "
                    f"{line}); give each key once", key_node.start_mark)
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def strict_safe_load(text: str) -> Any:
    """``yaml.safe_load`` with ``_StrictLoader``'s refusals: the one document of ``text``, built only
    from YAML's plain types (the loader is a ``SafeLoader``; no Python object can be constructed)."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """"line 3, column 5: <problem>" without PyYAML's multi-line snippet of the source."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or problem is None:
        return str(exc)
    context = getattr(exc, "context", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: " + (f"{context}: " if context else "") + problem


def _read_yaml(path: Path) -> tuple[Any, str]:
    """The parsed YAML and its text; every way a file can be unreadable becomes a ConfigError."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), [
                f"the file is {size:,} bytes; a model config may be at most {MAX_CONFIG_BYTES:,} bytes"])
        raw_bytes = path.read_bytes()[:MAX_CONFIG_BYTES + 1]  # a file may grow between stat and read
        if len(raw_bytes) > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), [f"the file is larger than {MAX_CONFIG_BYTES:,} bytes"])
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from exc
    try:
        raw_text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw_bytes[:exc.start].count(b"\n") + 1
        raise ConfigError(str(path), [
            f"not UTF-8 text: byte 0x{raw_bytes[exc.start]:02x} on line {line}; save the file as UTF-8"]) from None
    try:
        return strict_safe_load(raw_text), raw_text
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"cannot read YAML: {_yaml_problem(exc)}"]) from None
    except RecursionError:  # belt and braces: the depth limit should stop this first
        raise ConfigError(str(path), ["cannot read YAML: nested too deeply"]) from None


def load_model_config(path: str | Path) -> ModelMetadata:
    """Read and validate one config file; raises ConfigError listing every problem."""
    path = Path(path)
    raw, raw_text = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), ["the file must hold a mapping of keys (name, version, ...)"])
    not_text = [repr(k) for k in raw if not isinstance(k, str)]
    if not_text:
        raise ConfigError(str(path), [f"keys must be names, not {', '.join(not_text)}"])
    for reserved in ("model_id", "config_path", "config_hash"):
        if reserved in raw:
            raise ConfigError(str(path), [f"{reserved}: set by the registry; remove it from the file"])
    data = {
        **raw,
        "model_id": path.parent.name,
        "config_path": str(path),
        "config_hash": hashlib.sha256(raw_text.encode()).hexdigest()[:16],
    }
    try:
        return ModelMetadata.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), format_validation_errors(exc, ModelMetadata)) from exc


def config_dir() -> Path:
    """``BAYES_MODEL_CONFIGS`` overrides the configs directory (tests use fixture trees)."""
    return Path(os.environ.get("BAYES_MODEL_CONFIGS") or DEFAULT_CONFIG_DIR)  # set but empty: the default


def load_config_of(model_id: str) -> ModelMetadata:
    """The validated config of one model from the configs directory (no registry needed)."""
    if not isinstance(model_id, str) or not MODEL_ID_PATTERN.match(model_id):
        raise ConfigError(str(model_id), [f"not a valid model id ({MODEL_ID_PATTERN.pattern})"])
    path = config_dir() / model_id / "config.yaml"
    if not path.is_file():
        raise ConfigError(str(path), ["no such config file"])
    return load_model_config(path)
