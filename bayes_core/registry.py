"""Discovery of models from ``model_configs/<model_id>/config.yaml``.

A broken config never stops the others: it becomes an entry in ``registry.errors`` with its path
and every problem found. Model classes are resolved only inside ``bayes_core.models``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_core import artifacts
# config_dir/DEFAULT_CONFIG_DIR live in config (base reads its own config without the registry).
from bayes_core.config import (DEFAULT_CONFIG_DIR, MODEL_ID_PATTERN, ModelMetadata, config_dir,  # noqa: F401
                               load_model_config)
from bayes_core.errors import BayesCoreError, ConfigError, UnknownModelError
from bayes_core.priors import check_constraint_kinds, prior_problems

if TYPE_CHECKING:
    from bayes_core.base import BaseBayesianModel

# The hooks a model class must fill (itself or through a parent other than BaseBayesianModel);
# a class missing one would be listed and then fail with NotImplementedError on first use.
REQUIRED_HOOKS = ("data_schema", "example_data", "build_model", "predict_rows")


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "messages": list(self.messages)}


def resolve_model_class(spec: str) -> type["BaseBayesianModel"]:
    from bayes_core.base import BaseBayesianModel

    module_name, _, class_name = spec.partition(":")
    if not module_name.startswith("bayes_core.models."):
        raise BayesCoreError(f"model_class {spec!r} is outside bayes_core.models and is refused")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a model module that fails to import must not take down the others
        raise BayesCoreError(f"model_class {spec!r}: cannot import {module_name} "
                             f"({type(exc).__name__}: {exc})") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseBayesianModel)):
        raise BayesCoreError(f"model_class {spec!r}: {class_name} is not a BaseBayesianModel in {module_name}")
    missing = [hook for hook in REQUIRED_HOOKS if getattr(cls, hook) is getattr(BaseBayesianModel, hook)]
    if missing:
        raise BayesCoreError(f"model_class {spec!r}: {class_name} does not implement {', '.join(missing)} "
                             "(an abstract base class?); name the concrete model class")
    return cls


def config_prior_problems(meta: ModelMetadata, cls: type) -> list[str]:
    """The config's priors against the class's declared ``prior_constraints`` (names and signs)."""
    constraints = getattr(cls, "prior_constraints", {})
    kinds = check_constraint_kinds(constraints)
    if kinds:
        return [f"model_class {meta.model_class}: prior_constraints {k}" for k in kinds]
    return [f"priors.{name}: {message}" for name, message in prior_problems(constraints, meta.priors).items()]


class ModelRegistry:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else config_dir()
        self._models: dict[str, ModelMetadata] = {}
        self.errors: list[ConfigProblem] = []
        self.refresh()

    def refresh(self) -> "ModelRegistry":
        models, errors = {}, []
        if not self.root.is_dir():  # a mistyped BAYES_MODEL_CONFIGS must not look like "no models"
            what = "is a file, not a folder" if self.root.exists() else "does not exist"
            errors.append(ConfigProblem(str(self.root), [
                f"the model configs folder {self.root} {what}: set BAYES_MODEL_CONFIGS to the folder holding "
                "<model_id>/config.yaml, or unset it to use the project's model_configs/"]))
        for path in sorted(self.root.glob("*/config.yaml")):
            model_id = path.parent.name
            if not MODEL_ID_PATTERN.match(model_id):
                errors.append(ConfigProblem(str(path), [
                    f"directory name {model_id!r} is not a valid model id ({MODEL_ID_PATTERN.pattern})"]))
                continue
            try:
                meta = load_model_config(path)
                cls = resolve_model_class(meta.model_class)
            except ConfigError as exc:
                errors.append(ConfigProblem(str(path), exc.problems))
                continue
            except BayesCoreError as exc:
                errors.append(ConfigProblem(str(path), [f"model_class: {exc}"]))
                continue
            prior_errors = config_prior_problems(meta, cls)
            if prior_errors:
                errors.append(ConfigProblem(str(path), prior_errors))
                continue
            models[model_id] = meta
        self._models, self.errors = models, errors
        return self

    # -- seed API ---------------------------------------------------------------------------
    def get_all_models(self) -> dict[str, ModelMetadata]:
        return dict(self._models)

    def model_ids(self) -> list[str]:
        return list(self._models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def get_model_metadata(self, model_id: str) -> ModelMetadata:
        try:
            return self._models[model_id]
        except (KeyError, TypeError):
            raise UnknownModelError(str(model_id), list(self._models)) from None

    def load_model_instance(self, model_id: str, **kwargs: Any) -> "BaseBayesianModel":
        meta = self.get_model_metadata(model_id)
        return resolve_model_class(meta.model_class)(meta, **kwargs)

    def get_model_for_dropdown(self) -> list[tuple[str, str]]:
        """(model_id, label) for active and beta models; beta labelled, deprecated hidden."""
        out = []
        for model_id, meta in self._models.items():
            if meta.status == "deprecated":
                continue
            label = f"{meta.name} [BETA]" if meta.status == "beta" else meta.name
            out.append((model_id, label))
        return out

    def get_model_status(self, model_id: str) -> dict[str, Any]:
        """A model's entry in listings; its last run with ``last_status`` readable | unreadable and the
        ``last_problem`` (a damaged run, or runs that cannot be listed) instead of an exception."""
        meta = self.get_model_metadata(model_id)
        try:
            latest = artifacts.latest_run_id(model_id)
            last = artifacts.run_summary(model_id, latest) if latest else {}
        except BayesCoreError as exc:  # the runs folder itself cannot be read
            latest, last = None, {"status": artifacts.UNREADABLE, "problem": str(exc)}
        return {
            "model_id": model_id,
            "name": meta.name,
            "version": meta.version,
            "status": meta.status,
            "is_trained": latest is not None,
            "has_trace": latest is not None and (artifacts.run_path(model_id, latest) / artifacts.TRACE_FILE).is_file(),
            "last_trained": last.get("created_at"),
            "last_run_id": latest,
            "last_status": last.get("status"),
            "last_verdict": last.get("verdict"),
            "last_problem": last.get("problem"),
            "output_dir": str(artifacts.model_dir(model_id)),
        }

    def get_all_models_with_status(self) -> list[dict[str, Any]]:
        return [{**self.get_model_status(mid), "metadata": meta} for mid, meta in self._models.items()]


_REGISTRY: ModelRegistry | None = None


def get_registry(refresh: bool = False) -> ModelRegistry:
    """The process-wide registry; discovery is cached, ``refresh=True`` re-reads the configs."""
    global _REGISTRY
    if _REGISTRY is None or _REGISTRY.root != config_dir():
        _REGISTRY = ModelRegistry()
    elif refresh:
        _REGISTRY.refresh()
    return _REGISTRY
