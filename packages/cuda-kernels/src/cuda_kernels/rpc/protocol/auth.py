"""The bearer token: how a client sends it and a server expects it, and the token file.

Why in the protocol: the client (`KernelClient(token=...)`, `bench-service --token-file`)
and the server (`serve --auth-token-file`) must agree on the header and on how a token
file is read (surrounding whitespace stripped), so both read it from here.
"""

from __future__ import annotations

from pathlib import Path

AUTH_METADATA_KEY = "authorization"


def bearer_value(token: str) -> str:
    """The metadata value that carries `token`: `Bearer <token>`."""
    if not token or token != token.strip():
        raise ValueError("token must be non-empty and without surrounding whitespace")
    return f"Bearer {token}"


def read_token_file(path: str | Path) -> str:
    """The token in `path`, stripped of surrounding whitespace; ValueError when empty."""
    token = Path(path).read_text().strip()
    if not token:
        raise ValueError(f"the auth token file {path} is empty; write the token into it")
    return token
