"""Ray token authentication, read the way Ray reads it.

Ray 2.60 enables token authentication (``RAY_AUTH_MODE=token``) for local clusters. Every
request to the dashboard and the Jobs API then needs ``Authorization: Bearer <token>``.
Ray looks for the token in this order, and so does this module:

1. ``RAY_AUTH_TOKEN`` — the token itself, if set and non-empty;
2. ``RAY_AUTH_TOKEN_PATH`` — a file holding it (Ray aborts if the file is unreadable or
   empty, so this module refuses it too instead of falling back);
3. ``~/.ray/auth_token`` — the default file (``ray get-auth-token --generate`` writes it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ClusterError

AUTH_MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"

HOW_TO_SET = (
    f"set {TOKEN_ENV}, point {TOKEN_PATH_ENV} at a file holding it, or write it to "
    "~/.ray/auth_token (on the cluster's head node `ray get-auth-token` prints it)"
)


@dataclass(frozen=True)
class Token:
    """A token and where it was found, so messages can say which one a cluster rejected."""

    value: str
    source: str

    def headers(self) -> dict[str, str]:
        """The HTTP header Ray's dashboard checks."""
        return {"Authorization": f"Bearer {self.value}"}


def default_token_path() -> Path:
    """Ray's default token file."""
    return Path.home() / ".ray" / "auth_token"


def find_token(env: Mapping[str, str] | None = None) -> Token | None:
    """The token Ray would use in an environment like ``env`` (default: this process's)."""
    env = os.environ if env is None else env
    value = env.get(TOKEN_ENV, "").strip()
    if value:
        return Token(value, f"${TOKEN_ENV}")
    path_text = env.get(TOKEN_PATH_ENV, "")
    if path_text:
        path = Path(path_text).expanduser()
        try:
            value = path.read_text().strip()
        except OSError as e:
            raise ClusterError(
                f"{TOKEN_PATH_ENV}={path_text} cannot be read ({e.strerror}); "
                f"point it at the token file or unset it"
            ) from None
        if not value:
            raise ClusterError(f"{TOKEN_PATH_ENV}={path_text} is empty; write the token into it")
        return Token(value, f"${TOKEN_PATH_ENV} ({path})")
    path = default_token_path()
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return Token(value, str(path))
    return None


def token_file_for_new_token(env: Mapping[str, str] | None = None) -> Path:
    """Where a generated token goes: ``$RAY_AUTH_TOKEN_PATH`` if set, else Ray's default."""
    env = os.environ if env is None else env
    path_text = env.get(TOKEN_PATH_ENV, "")
    return Path(path_text).expanduser() if path_text else default_token_path()


def ensure_token() -> tuple[Token, bool]:
    """The token Ray will use, generating one (as ``ray.init`` does) if there is none.

    Returns the token and whether it was generated now. A new token is 256 random bits in
    hex, written with owner-only permissions.
    """
    path = token_file_for_new_token()
    has_source = bool(os.environ.get(TOKEN_ENV, "").strip()) or path.exists()
    found = find_token() if has_source else None
    if found is not None:
        return found, False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return find_token(), True
