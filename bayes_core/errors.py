"""Errors raised by the core. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class BayesCoreError(Exception):
    """Base class: pages show these with ``st.error``; the CLI prints them and exits non-zero."""


class ConfigError(BayesCoreError):
    """A ``config.yaml`` that does not validate. ``problems`` lists every error found in the file."""

    def __init__(self, path: str, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        joined = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Invalid model config {self.path}:\n{joined}")


class UnknownModelError(BayesCoreError, KeyError):
    def __init__(self, model_id: str, known: list[str]):
        self.model_id = model_id
        self.known = sorted(known)
        shown = model_id if len(model_id) <= 100 else f"{model_id[:99]}…"  # an id of 100,000 characters
        super().__init__(
            f"Unknown model {shown!r}. Known models: {', '.join(self.known) or '(none)'}."
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DataValidationError(BayesCoreError, ValueError):
    """Input data that fails the model's schema. ``problems`` has one message per problem."""

    def __init__(self, problems: list[str], what: str = "data"):
        self.problems = list(problems)
        joined = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"The {what} is not valid:\n{joined}")


class InvalidParametersError(BayesCoreError, ValueError):
    """Inference or training parameters that fail validation. ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        joined = "\n".join(f"  - {k}: {v}" for k, v in self.errors.items())
        super().__init__(f"Invalid parameters:\n{joined}")


class RunNotFoundError(BayesCoreError):
    pass


class CorruptRunError(BayesCoreError):
    """A run that exists but cannot be used. ``problem`` says what is wrong in a few words (the file and
    its fault), for listings that show the run as unreadable; the message adds what to do."""

    def __init__(self, message: str, problem: str | None = None):
        super().__init__(message)
        self.problem = problem or message


class RunStoreError(BayesCoreError):
    """The runs of a model cannot be listed or written (a file where a folder belongs, no permission,
    a full disk, a staging folder removed while a run was written)."""


class NotTrainedError(BayesCoreError):
    pass


class NotEvaluableError(BayesCoreError):
    """A run whose LOO or LOO-PIT cannot be computed, for a reason of the run itself (too few draws,
    no observed variables, a trace without a variable the likelihood needs): recorded as the reason."""


class SamplerError(BayesCoreError):
    pass


class DeviceUnavailableError(SamplerError):
    pass


class TraceTooLargeError(InvalidParametersError):
    """Settings whose trace would not fit in memory: refused before any sampling."""

    def __init__(self, message: str):
        super().__init__({"trace_size": message})
