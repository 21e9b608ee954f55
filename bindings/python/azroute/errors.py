"""Exceptions of the azroute binding.

Every failure raises a subclass of :class:`Error`, which carries ``code``
(the ``azr_code`` number of <azroute/azroute.h>) and ``message`` (the
library's one-line description; ``str(exc)`` is the same line). A server's
error reply raises :class:`ReplyError`. Where a Python built-in exception
means the same thing, the class derives from it as well, so that
``except TimeoutError`` (the built-in) also catches
:class:`azroute.TimeoutError`.
"""
from __future__ import annotations

import builtins
import re
from typing import Dict, Optional, Type

from . import _capi

__all__ = [
    "Error",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "ConfigError",
    "PluginError",
    "NoNodeError",
    "MetadataError",
    "MetadataAuthError",
    "TimeoutError",
    "ConnectError",
    "TLSError",
    "ProtocolError",
    "ReplyError",
    "IOFailureError",
    "NoTransportError",
    "UnsupportedError",
    "AuthError",
    "NotFoundError",
    "CrossSlotError",
    "error_for",
]


class Error(Exception):
    """Base class of every azroute failure.

    Attributes:
        code: the azr_code (an int; see ``azroute.codes``).
        message: the one-line message (never contains secrets).
    """

    code: int = 0

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable despite the extra argument
        return (type(self), (self.message, self.code))


class InvalidArgumentError(Error, ValueError):
    """AZR_E_INVALID_ARGUMENT: a bad argument (also: an argument of a
    type that cannot be sent, a closed router)."""

    code = _capi.AZR_E_INVALID_ARGUMENT


class OutOfMemoryError(Error, MemoryError):
    """AZR_E_NOMEM: an allocation failed in the library."""

    code = _capi.AZR_E_NOMEM


class ConfigError(Error):
    """AZR_E_CONFIG: azroute.ini (or the nodes_env variable) is invalid.

    The message reads "FILE:LINE: reason" for an error in the file;
    ``filename`` and ``lineno`` hold those parts (None when the message
    has no such prefix, e.g. for an error in a nodes_env variable).
    """

    code = _capi.AZR_E_CONFIG
    _WHERE = re.compile(r"^(.+?):(\d+): ")

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message, code)
        m = self._WHERE.match(message)
        self.filename: Optional[str] = m.group(1) if m else None
        self.lineno: Optional[int] = int(m.group(2)) if m else None


class PluginError(Error):
    """AZR_E_PLUGIN: a plugin was refused or misbehaved."""

    code = _capi.AZR_E_PLUGIN


class NoNodeError(Error):
    """AZR_E_NO_NODE: the policy chain left no candidate (e.g. a write
    with no primary)."""

    code = _capi.AZR_E_NO_NODE


class MetadataError(Error):
    """AZR_E_METADATA: the AZ ID could not be learned."""

    code = _capi.AZR_E_METADATA


class MetadataAuthError(MetadataError):
    """AZR_E_METADATA_AUTH: the metadata endpoint rejected the token."""

    code = _capi.AZR_E_METADATA_AUTH


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001
    """AZR_E_TIMEOUT: a network operation exceeded its timeout. Also a
    built-in TimeoutError."""

    code = _capi.AZR_E_TIMEOUT


class ConnectError(Error, builtins.ConnectionError):
    """AZR_E_CONNECT: connection refused, reset or unreachable. Also a
    built-in ConnectionError."""

    code = _capi.AZR_E_CONNECT


class TLSError(Error):
    """AZR_E_TLS: TLS handshake or certificate failure."""

    code = _capi.AZR_E_TLS


class ProtocolError(Error):
    """AZR_E_PROTOCOL: the peer broke the RESP protocol."""

    code = _capi.AZR_E_PROTOCOL


class ReplyError(Error):
    """The server answered with an error reply (AZR_E_SERVER_REPLY);
    ``message`` is the server's text, e.g. "WRONGTYPE Operation against a
    key holding the wrong kind of value"."""

    code = _capi.AZR_E_SERVER_REPLY


class IOFailureError(Error):
    """AZR_E_IO: any other I/O failure."""

    code = _capi.AZR_E_IO


class NoTransportError(Error):
    """AZR_E_NO_TRANSPORT: the configuration names no transport, so
    commands cannot be carried (pick/report still work)."""

    code = _capi.AZR_E_NO_TRANSPORT


class UnsupportedError(Error):
    """AZR_E_UNSUPPORTED: the operation is not available here (e.g. a
    command that changes its connection's state, given to execute())."""

    code = _capi.AZR_E_UNSUPPORTED


class AuthError(Error):
    """AZR_E_AUTH: the server refused AUTH."""

    code = _capi.AZR_E_AUTH


class NotFoundError(Error, LookupError):
    """AZR_E_NOT_FOUND: a named item (node, plugin) is unknown."""

    code = _capi.AZR_E_NOT_FOUND


class CrossSlotError(Error):
    """AZR_E_CROSSSLOT: cluster mode: the keys of one command are in
    different hash slots, so no node can run it; nothing was sent. Give
    keys that go together a common {hash tag}."""

    code = _capi.AZR_E_CROSSSLOT


_BY_CODE: Dict[int, Type[Error]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError, OutOfMemoryError, ConfigError, PluginError,
        NoNodeError, MetadataError, MetadataAuthError, TimeoutError,
        ConnectError, TLSError, ProtocolError, ReplyError, IOFailureError,
        NoTransportError, UnsupportedError, AuthError, NotFoundError,
        CrossSlotError,
    )
}


def error_for(code: int, message: str) -> Error:
    """The exception for azr_code ``code`` with ``message`` (an unknown
    code gives a plain :class:`Error` carrying it)."""
    cls = _BY_CODE.get(code, Error)
    return cls(message, code)
