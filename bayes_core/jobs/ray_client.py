"""The Ray cluster as the Ray runner sees it: its address, its token, and one authenticated
connection to its Jobs API in which every request has a time-out and every failure becomes a
``RayClusterError`` that says what to do. Ray is imported only when a connection is made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bayes_core.errors import BayesCoreError
from bayes_core.jobs.api import JobConfigError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
DEFAULT_TIMEOUT_S = 5.0


class RayClusterError(BayesCoreError):
    """The Ray cluster cannot be used: unreachable, the token refused, or an error answer."""


# -- settings -------------------------------------------------------------------------------------
def ray_address() -> str:
    """``RAY_ADDRESS``: the Jobs API (dashboard) address, ``http(s)://host:port``."""
    raw = (os.environ.get("RAY_ADDRESS") or "").strip() or DEFAULT_ADDRESS
    address = raw if "://" in raw else f"http://{raw}"
    if not address.startswith(("http://", "https://")) or not address.split("://", 1)[1].strip("/"):
        raise JobConfigError(f"RAY_ADDRESS={raw!r} is not a Jobs API address: the Ray runner talks to the cluster's "
                             f"dashboard, e.g. {DEFAULT_ADDRESS} (not a ray:// client or GCS address).")
    return address.rstrip("/")


def ray_timeout_s() -> float:
    """``BAYES_RAY_TIMEOUT``: seconds any one request to the cluster may take (default 5)."""
    raw = os.environ.get("BAYES_RAY_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 300:
        raise JobConfigError(f"BAYES_RAY_TIMEOUT={raw!r} is not a number of seconds from 0 to 300 (how long one "
                             f"request to the Ray cluster may take). Set it to e.g. 5 (the default), or unset it.")
    return value


def default_token_path() -> Path:
    """Where Ray keeps its token by default (``ray get-auth-token --generate`` writes it there)."""
    return Path.home() / ".ray" / "auth_token"


def find_token() -> tuple[str | None, str]:
    """The cluster's authentication token and where it came from, in Ray's own order:
    ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names, Ray's default token file.
    ``(None, "")`` when there is none (fine for a cluster without token authentication)."""
    token = (os.environ.get("RAY_AUTH_TOKEN") or "").strip()
    if token:
        return token, "RAY_AUTH_TOKEN"
    named = (os.environ.get("RAY_AUTH_TOKEN_PATH") or "").strip()
    path = Path(named).expanduser() if named else default_token_path()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        if not named:
            return None, ""
        raise JobConfigError(f"RAY_AUTH_TOKEN_PATH={named!r} cannot be read ({exc.strerror or exc}): point it to the "
                             "file holding the cluster's token, or unset it.") from None
    if not token and named:
        raise JobConfigError(f"RAY_AUTH_TOKEN_PATH={named!r} is an empty file: put the cluster's token in it "
                             "(`ray get-auth-token` on the head prints it), or unset it.")
    return (token, f"the token file {path}") if token else (None, "")


# -- the cluster ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterResources:
    """What the cluster's alive nodes offer (from the state API's node list)."""

    nodes: int
    max_node_cpus: float
    gpus: float

    def describe(self) -> str:
        return (f"{self.nodes} node(s); the largest has {self.max_node_cpus:g} CPUs; "
                f"{self.gpus:g} GPU(s) in all")


class HTTPError(Exception):
    def __init__(self, status: int, text: str):
        super().__init__(f"HTTP {status}: {text.strip()[:500]}")
        self.status = status


_client_class = None


def _timed_client_class():
    """Ray's ``JobSubmissionClient`` with a time-out on every request, HTTP errors kept as codes, and
    exactly the address given. (Its own requests have no time-out, so an address that never answers
    would hang a page; and its constructor replaces the address with ``RAY_ADDRESS`` from the
    environment, connecting to a ``host:port`` one as to a GCS — without a time-out either.)"""
    global _client_class
    if _client_class is None:
        import ray
        from ray.dashboard.modules.dashboard_sdk import SubmissionClient
        from ray.job_submission import JobSubmissionClient

        class TimedJobSubmissionClient(JobSubmissionClient):
            def __init__(self, address: str, *, headers: dict[str, str], timeout_s: float):
                self._timeout_s = timeout_s
                self._client_ray_version = ray.__version__
                SubmissionClient.__init__(self, address=address, headers=headers)  # the HTTP address as given
                self._check_connection_and_version(
                    min_version="2.0", version_error_message="The Ray runner needs Ray 2.0 or newer on the cluster.")

            def _do_request(self, method, endpoint, **kwargs):
                kwargs.setdefault("timeout", self._timeout_s)
                return super()._do_request(method, endpoint, **kwargs)

            def _raise_error(self, r):
                raise HTTPError(r.status_code, r.text)

        _client_class = TimedJobSubmissionClient
    return _client_class


class Cluster:
    """One authenticated connection to a cluster's Jobs API; every failure a ``RayClusterError``."""

    def __init__(self, address: str, token: str | None, token_source: str, timeout_s: float):
        self.address, self.token, self.token_source, self.timeout_s = address, token, token_source, timeout_s
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = self.call("connect", lambda: _timed_client_class()(address, headers=dict(self.headers),
                                                                         timeout_s=timeout_s))

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        import requests
        from ray.exceptions import AuthenticationError

        try:
            return fn()
        except AuthenticationError:
            raise self._auth_error() from None
        except HTTPError as exc:
            if exc.status in (401, 403):
                raise self._auth_error() from None
            raise
        except requests.Timeout:
            raise self._unreachable(f"no answer within {self.timeout_s:g} s") from None
        except OSError as exc:  # requests' ConnectionError and Ray's own ConnectionError are OSErrors
            reason = "connection refused or host unreachable" if isinstance(exc, ConnectionError) or \
                isinstance(exc, requests.ConnectionError) else str(exc)
            raise self._unreachable(reason) from None

    def _unreachable(self, reason: str) -> RayClusterError:
        return RayClusterError(
            f"Cannot reach the Ray cluster's Jobs API at {self.address} ({reason}; each request may take "
            f"{self.timeout_s:g} s, BAYES_RAY_TIMEOUT). Start a local cluster with `make ray-up`, or set RAY_ADDRESS "
            f"to the cluster's dashboard address (e.g. {DEFAULT_ADDRESS}); unset BAYES_JOB_RUNNER to train on this "
            "machine instead.")

    def _auth_error(self) -> RayClusterError:
        if not self.token:
            return RayClusterError(
                f"The Ray cluster at {self.address} requires an authentication token and none was found (Ray 2.60 "
                "turns token authentication on by default). Set RAY_AUTH_TOKEN to the cluster's token, or "
                f"RAY_AUTH_TOKEN_PATH to a file holding it; a cluster started with `make ray-up` keeps it in "
                f"{default_token_path()}, which is found without either.")
        return RayClusterError(
            f"The Ray cluster at {self.address} refused the authentication token from {self.token_source} (wrong or "
            "expired). Use the cluster's current token — `ray get-auth-token` on its head prints it; on Kubernetes "
            "it is in the Secret named in deploy/raycluster.yaml — in RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH.")

    def info(self, job_id: str):
        """Ray's ``JobDetails`` of ``job_id``; None when the cluster does not know it."""
        try:
            return self.call("read the job", lambda: self.client.get_job_info(job_id))
        except HTTPError as exc:
            if exc.status == 404:
                return None
            raise RayClusterError(f"The Ray cluster at {self.address} could not report job {job_id}: {exc}") from None

    def request(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return self.call(what, fn)
        except HTTPError as exc:
            raise RayClusterError(f"The Ray cluster at {self.address} could not {what}: {exc}") from None

    def resources(self) -> ClusterResources:
        """Alive nodes' resources, from the dashboard's state API (the Jobs API does not say)."""
        import requests

        def fetch():
            r = requests.get(f"{self.address}/api/v0/nodes", params={"limit": 10_000}, headers=self.headers,
                             timeout=self.timeout_s)
            if r.status_code != 200:
                raise HTTPError(r.status_code, r.text)
            return r.json()["data"]["result"]["result"]

        try:
            nodes = [n for n in self.request("list its nodes", fetch) if n.get("state") == "ALIVE"]
        except (KeyError, TypeError, ValueError) as exc:
            raise RayClusterError(f"The Ray cluster at {self.address} answered its node list in an unexpected form "
                                  f"({exc!r}): is it Ray 2.60?") from None
        cpus = [float((n.get("resources_total") or {}).get("CPU", 0)) for n in nodes]
        gpus = sum(float((n.get("resources_total") or {}).get("GPU", 0)) for n in nodes)
        return ClusterResources(nodes=len(nodes), max_node_cpus=max(cpus, default=0.0), gpus=gpus)
