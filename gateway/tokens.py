"""Bearer tokens: kept only as SHA-256 digests, recognised in constant time.

Tokens are 256-bit random strings (`new_token`), so a fast hash is enough: there
is nothing to guess from a digest, and a deliberately slow password hash would
cost every request milliseconds for no gain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

# Names end up in a Kafka header and a metric label: short and plain.
TokenName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
TokenHash = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
_LINE = TypeAdapter(tuple[TokenName, TokenHash])
_PREFIX = "lfgw_"  # recognisable in a leaked config or a secret scanner


class TokenError(ValueError):
    """The configured tokens are unusable; the message says where."""


def new_token() -> str:
    return _PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class TokenStore:
    """Token names and their digests; `identify` says which token a request carries."""

    digests: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_hashes(cls, hashes: Mapping[str, str]) -> TokenStore:
        seen: dict[str, str] = {}
        for name, hashed in hashes.items():
            if hashed in seen:
                raise TokenError(f"tokens {seen[hashed]!r} and {name!r} are the same token")
            seen[hashed] = name
        return cls(
            tuple((name, bytes.fromhex(h.removeprefix("sha256:"))) for name, h in hashes.items())
        )

    def identify(self, presented: str) -> str | None:
        """The name of the presented token, or None if it is none of ours.

        Digests are compared with `hmac.compare_digest` and every one of them is,
        without stopping at a match, so the time taken says nothing about which
        token matched or how much of a guess was right.
        """
        candidate = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for name, digest in self.digests:
            if hmac.compare_digest(candidate, digest):
                found = name
        return found

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.digests)


def read_tokens_file(path: Path) -> dict[str, str]:
    """`name sha256:<hex>` per line; blank lines and `#` comments are skipped."""
    hashes: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TokenError(f"cannot read tokens file {path}: {error.strerror}") from error
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        try:
            name, hashed = _LINE.validate_python(tuple(content.split()))
        except ValidationError:
            # The line may hold a plain token by mistake: never echo it.
            raise TokenError(
                f"tokens file {path} line {number}: expected 'NAME sha256:<64 hex digits>'"
            ) from None
        if name in hashes:
            raise TokenError(f"tokens file {path} line {number}: token {name!r} defined twice")
        hashes[name] = hashed
    return hashes


def load_tokens(inline: Mapping[str, str], path: Path | None) -> TokenStore:
    hashes = dict(inline)
    if path is not None:
        for name, hashed in read_tokens_file(path).items():
            if name in hashes:
                raise TokenError(f"token {name!r} is in both LEADFLOW_GATEWAY_TOKENS and {path}")
            hashes[name] = hashed
    if not hashes:
        raise TokenError(
            "no tokens configured (LEADFLOW_GATEWAY_TOKENS or LEADFLOW_GATEWAY_TOKENS_FILE); "
            "make one with `leadflow gateway token NAME`"
        )
    return TokenStore.from_hashes(hashes)
