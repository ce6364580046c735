"""A checked connection to a Ray cluster's dashboard: the Jobs API and the state API.

Ray's own ``JobSubmissionClient`` sends requests without a timeout and turns a bad token
into a ten-line message. ``connect`` first asks the dashboard, with a short timeout, whether
it is there and which authentication it wants, then checks the token, so an unreachable
address, a missing token and a wrong token each fail in seconds with one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .auth import HOW_TO_SET, Token, find_token
from .errors import ClusterError
from .state import read_state

if TYPE_CHECKING:
    import requests
    from ray.job_submission import JobSubmissionClient

ADDRESS_ENV = "RAY_API_SERVER_ADDRESS"
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 30.0
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def resolve_address(address: str | None, state_dir: Path) -> str:
    """The dashboard URL: ``--address``, else ``$RAY_API_SERVER_ADDRESS``, else the local one."""
    if not address:
        address = os.environ.get(ADDRESS_ENV, "")
    if not address:
        state = read_state(state_dir)
        if state is None:
            raise ClusterError(
                "no cluster address: pass --address http://HOST:PORT (the Ray dashboard, port "
                f"8265 by default), set {ADDRESS_ENV}, or start one here with `biril cluster up`"
            )
        address = state.dashboard_url
    if address.startswith("ray://"):
        raise ClusterError(
            f"{address} is a Ray Client address; jobs go through the dashboard: "
            "use --address http://HOST:8265"
        )
    if not _SCHEME.match(address):
        address = f"http://{address}"
    return address.rstrip("/")


@dataclass
class Dashboard:
    """A Ray dashboard that answered and accepted our credentials."""

    url: str
    token: Token | None
    ray_version: str
    headers: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **params: Any) -> Any:
        """GET a dashboard JSON endpoint."""
        import requests

        try:
            r = requests.get(
                self.url + path, params=params, headers=self.headers, timeout=REQUEST_TIMEOUT_S
            )
        except requests.RequestException as e:
            raise ClusterError(f"lost the dashboard at {self.url}: {_reason(e)}") from None
        if r.status_code != 200:
            raise ClusterError(f"{self.url}{path} answered {r.status_code}: {r.text[:200]}")
        return r.json()

    def nodes(self) -> list[dict[str, Any]]:
        """Every node the cluster knows (alive and dead), from the state API."""
        data = self.get("/api/v0/nodes", limit=10000, detail="true")
        return data["data"]["result"]["result"]

    def alive_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self.nodes() if n["state"] == "ALIVE"]

    @cached_property
    def jobs(self) -> JobsClient:
        """Ray's Jobs API client, with our token attached to every request."""
        from ray.job_submission import JobSubmissionClient

        with jobs_api_failures(self.url):
            client = JobSubmissionClient(self.url, headers=dict(self.headers))
        return JobsClient(client, self.url)


@contextmanager
def jobs_api_failures(url: str) -> Iterator[None]:
    """Ray's Jobs client errors inside, as one-line ``ClusterError``s.

    Ray reports an unknown job id, a refused request or a lost connection as a
    ``RuntimeError``, ``ValueError`` or ``ConnectionError`` holding the server's whole answer.
    """
    try:
        yield
    except (RuntimeError, ValueError, ConnectionError) as e:
        lines = str(e).strip().splitlines() or [type(e).__name__]
        raise ClusterError(f"the Jobs API at {url}: {lines[0]}") from None


class JobsClient:
    """Ray's ``JobSubmissionClient``; each call's failure is one ``ClusterError`` line."""

    def __init__(self, client: JobSubmissionClient, url: str) -> None:
        self._client = client
        self._url = url

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def checked(*args: Any, **kwargs: Any) -> Any:
            with jobs_api_failures(self._url):
                return method(*args, **kwargs)

        return checked


def _reason(e: requests.RequestException) -> str:
    import requests

    if isinstance(e, requests.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(e, requests.Timeout):
        return f"no answer within {REQUEST_TIMEOUT_S:g} s"
    if isinstance(e, requests.ConnectionError):
        return "connection refused or host not found"
    return type(e).__name__


def _probe(url: str, path: str, headers: dict[str, str]) -> requests.Response:
    import requests

    try:
        return requests.get(
            url + path, headers=headers, timeout=(CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S)
        )
    except requests.RequestException as e:
        raise ClusterError(
            f"cannot reach a Ray dashboard at {url} ({_reason(e)}); check the address "
            "(the dashboard's http://HOST:PORT) and that the cluster is up"
        ) from None


def connect(address: str | None, state_dir: Path) -> Dashboard:
    """Reach the dashboard, authenticate the way the cluster asks, and check the Ray version."""
    import ray

    url = resolve_address(address, state_dir)
    r = _probe(url, "/api/authentication_mode", {})
    try:
        mode = r.json()["authentication_mode"] if r.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        mode = None
    if mode is None:
        raise ClusterError(
            f"{url} is not a Ray {ray.__version__} dashboard (it answered {r.status_code} "
            "to /api/authentication_mode); check the address and port"
        )
    token = find_token() if mode == "token" else None
    if mode == "token" and token is None:
        raise ClusterError(
            f"the cluster at {url} requires a token and none was found: {HOW_TO_SET}"
        )
    headers = token.headers() if token else {}
    r = _probe(url, "/api/version", headers)
    if r.status_code == 403 and token is not None:
        raise ClusterError(
            f"the cluster at {url} rejected the token from {token.source}; use that "
            f"cluster's token: {HOW_TO_SET}"
        )
    if r.status_code != 200:
        raise ClusterError(f"{url}/api/version answered {r.status_code}: {r.text[:200]}")
    version = r.json()["ray_version"]
    if version.split(".")[:2] != ray.__version__.split(".")[:2]:
        raise ClusterError(
            f"the cluster at {url} runs Ray {version} but this client has Ray "
            f"{ray.__version__}; install the same release series on both"
        )
    return Dashboard(url=url, token=token, ray_version=version, headers=headers)
