"""The routing context: :class:`Router` and :func:`open`.

A Router wraps one ``azr_ctx``. Every method may be called from any number
of threads at once (the C API is thread-safe and ctypes releases the GIL
around each call); :meth:`Router.close` waits for the calls in flight and
then refuses new ones, so a closed router raises instead of crashing.
"""
from __future__ import annotations

import builtins
import enum
import json
import math
import os
import threading
import weakref
from ctypes import byref, c_size_t, c_void_p, create_string_buffer, sizeof, string_at
from typing import (
    Any,
    Callable,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Union,
)

from . import _capi
from ._capi import AzrCommand, AzrExecOptions, AzrReply
from .errors import Error, InvalidArgumentError, NotFoundError, ReplyError, error_for

__all__ = [
    "Router",
    "open",
    "Node",
    "AzInfo",
    "Status",
    "LogLevel",
    "Arg",
    "invalidate_az",
    "library_version",
    "LIBRARY_PATH",
    "LAYER_PLUGIN_DIR",
]

_lib, LIBRARY_PATH = _capi.load()
#: The plugin directory passed to the library when it was loaded from a
#: Lambda layer (``<layer>/lib/azroute``), else None. See :func:`open`.
LAYER_PLUGIN_DIR: Optional[str] = _capi.layer_plugin_dir(LIBRARY_PATH)
_free = _capi.libc_free()

#: What a command argument may be: str (sent as UTF-8), bytes-like, int or
#: float (sent as their decimal text).
Arg = Union[str, bytes, bytearray, memoryview, int, float]


class Status(enum.IntEnum):
    """How a request ended, for :meth:`Router.report` (azr_status)."""

    OK = _capi.AZR_STATUS_OK
    TIMEOUT = _capi.AZR_STATUS_TIMEOUT
    REFUSED = _capi.AZR_STATUS_REFUSED
    ERROR_REPLY = _capi.AZR_STATUS_ERROR_REPLY
    TLS_FAILURE = _capi.AZR_STATUS_TLS_FAILURE
    IO_ERROR = _capi.AZR_STATUS_IO_ERROR
    CANCELLED = _capi.AZR_STATUS_CANCELLED


class LogLevel(enum.IntEnum):
    """Severity of a library log line (azr_log_level)."""

    ERROR = _capi.AZR_LOG_ERROR
    WARNING = _capi.AZR_LOG_WARNING
    INFO = _capi.AZR_LOG_INFO
    DEBUG = _capi.AZR_LOG_DEBUG


class Node(NamedTuple):
    """One node of the table (azr_node_info)."""

    index: int
    id: str
    host: str
    port: int
    az_id: Optional[str]
    az_name: Optional[str]
    role: str  # "primary" or "replica"
    weight: int
    priority: int
    same_az: bool
    az_source: str = "config"  # "server", "config", "az_map" or "unknown"
    present: bool = True  # False once the node left the group


_AZ_SOURCES = ("unknown", "server", "config", "az_map")


class AzInfo(NamedTuple):
    """What the router knows about the caller's AZ (azr_az_info)."""

    known: bool
    az_id: Optional[str]  # None when not known
    source: str  # "none", "static", "lambda", "imds" or "ecs"
    from_cache: bool  # served by the process-wide cache
    fetch_ms: float  # duration of the fetch that produced it
    expires_in_s: int  # -1: never
    error: int  # azr_code: why not known (0 when known)
    reason: str  # one line when not known


def _text(raw: Optional[bytes]) -> Optional[str]:
    return None if raw is None else raw.decode("utf-8", "replace")


def library_version() -> str:
    """The loaded libazroute's version, "MAJOR.MINOR.PATCH"."""
    return _lib.azr_version(None).decode()


def invalidate_az() -> None:
    """Drops the process-wide AZ ID cache (azr_invalidate_az), so that the
    next :func:`open` or :meth:`Router.refresh_az` fetches again. For
    runtimes that snapshot and restore a process (Lambda SnapStart: call it,
    then ``refresh_az()``, in an after-restore hook)."""
    _lib.azr_invalidate_az()


def _failure(code: int, errbuf: Any) -> Error:
    """The exception for a failed call: the errbuf line, else
    azr_strerror(code)."""
    msg = errbuf.value.decode("utf-8", "replace") if errbuf is not None else ""
    if not msg:
        msg = _lib.azr_strerror(code).decode("utf-8", "replace")
    return error_for(code, msg)


def _encode(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode("utf-8")
    if isinstance(arg, (bytearray, memoryview)):
        return bytes(arg)
    if isinstance(arg, bool):
        # bool is an int subclass; "True" on the wire is rarely meant.
        raise InvalidArgumentError(
            "a command argument may not be a bool (send 1/0 or a string)")
    if isinstance(arg, int):
        return b"%d" % arg
    if isinstance(arg, float):
        return repr(arg).encode("ascii")  # shortest text that round-trips
    raise InvalidArgumentError(
        "a command argument must be str, bytes, int or float, not %s"
        % type(arg).__name__)


# ctypes array types by argument count (making one is slow); bounded.
_ARRAY_TYPES: dict = {}


def _command(args: Sequence[Arg]) -> AzrCommand:
    """An azr_command over ``args``; the returned structure keeps the
    argument buffers alive (ctypes records them in its _objects)."""
    n = len(args)
    if n == 0:
        raise InvalidArgumentError("a command needs at least its name")
    bufs = [a if type(a) is bytes else _encode(a) for a in args]
    types = _ARRAY_TYPES.get(n)
    if types is None:
        types = (_capi.c_char_p * n, c_size_t * n)
        if len(_ARRAY_TYPES) < 64:
            _ARRAY_TYPES[n] = types
    return AzrCommand(n, types[0](*bufs), types[1](*map(len, bufs)))


def _exec_options(write: bool, timeout_ms: Optional[float],
                  blocking: bool) -> AzrExecOptions:
    intent = _capi.AZR_INTENT_WRITE if write else _capi.AZR_INTENT_READ
    ms = 0
    if timeout_ms is not None:
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)):
            raise InvalidArgumentError("timeout_ms must be a number")
        if not timeout_ms > 0:
            raise InvalidArgumentError("timeout_ms must be positive")
        ms = math.ceil(timeout_ms)
        if ms > 0xFFFFFFFF:
            raise InvalidArgumentError("timeout_ms is too large")
    flags = _capi.AZR_EXEC_BLOCKING if blocking else 0
    return AzrExecOptions(sizeof(AzrExecOptions), intent, ms, flags)


# Shared, read-only option blocks for the common calls.
_READ = _exec_options(False, None, False)
_WRITE = _exec_options(True, None, False)

_STRING = _capi.AZR_REPLY_STRING
_STATUS = _capi.AZR_REPLY_STATUS
_INTEGER = _capi.AZR_REPLY_INTEGER
_NIL = _capi.AZR_REPLY_NIL
_AGGREGATE = (_capi.AZR_REPLY_ARRAY, _capi.AZR_REPLY_SET, _capi.AZR_REPLY_PUSH)
_MAP = _capi.AZR_REPLY_MAP
_DOUBLE = _capi.AZR_REPLY_DOUBLE
_BOOL = _capi.AZR_REPLY_BOOL
_BIGNUM = _capi.AZR_REPLY_BIGNUM
_VERBATIM = _capi.AZR_REPLY_VERBATIM
_ERRORS = (_capi.AZR_REPLY_ERROR, _capi.AZR_REPLY_BLOB_ERROR)


def _hashable(value: Any) -> Any:
    """A map key as a dict can hold it (RESP3 allows aggregate keys)."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def convert(r: AzrReply) -> Any:
    """A Python value for one reply tree. Error replies become
    :class:`ReplyError` instances (the callers raise a top-level one).
    Attributes (RESP3 ``|``) are not returned."""
    t = r.type
    if t == _STRING:
        return string_at(r.str, r.len) if r.len else b""
    if t == _STATUS:
        return string_at(r.str, r.len).decode("utf-8", "replace") if r.len else ""
    if t == _INTEGER:
        return r.integer
    if t == _NIL:
        return None
    if t in _AGGREGATE:
        el = r.element
        return [convert(el[i].contents) for i in range(r.elements)]
    if t == _MAP:
        el = r.element
        out = {}
        for i in range(0, r.elements - 1, 2):
            key = convert(el[i].contents)
            try:
                out[key] = convert(el[i + 1].contents)
            except TypeError:  # an unhashable (aggregate) key
                out[_hashable(key)] = convert(el[i + 1].contents)
        return out
    if t == _DOUBLE:
        return r.dval
    if t == _BOOL:
        return r.integer != 0
    if t == _BIGNUM:
        return int(string_at(r.str, r.len))
    if t == _VERBATIM:
        return string_at(r.str, r.len).decode("utf-8", "replace") if r.len else ""
    if t in _ERRORS:
        return ReplyError(string_at(r.str, r.len).decode("utf-8", "replace"))
    raise Error("reply of unknown type %d" % t, _capi.AZR_E_PROTOCOL)


def _declares_plugin_dir(config_path: str) -> bool:
    """Whether the file sets plugin_dir in [azroute] (inih's syntax:
    [section], key = value or key: value, ; and # comments). Unreadable
    files answer False: the library reports them."""
    section = ""
    try:
        with builtins.open(config_path, "r", encoding="utf-8",
                           errors="replace") as f:
            for line in f:
                s = line.strip()
                if not s or s[0] in ";#":
                    continue
                if s[0] == "[":
                    section = s[1:s.find("]")].strip() if "]" in s else ""
                    continue
                if section != "azroute":
                    continue
                cut = min((i for i in (s.find("="), s.find(":")) if i >= 0),
                          default=-1)
                if cut > 0 and s[:cut].strip() == "plugin_dir":
                    return True
    except OSError:
        return False
    return False



class Router:
    """A routing context over one azroute.ini (see :func:`open`).

    Use it as a context manager, or call :meth:`close`. Every method is
    thread-safe.
    """

    def __init__(self, config_path: Union[str, "os.PathLike[str]"], *,
                 az_id: Optional[str] = None,
                 plugin_dir: Optional[str] = None,
                 log: Optional[Callable[[LogLevel, str], None]] = None,
                 log_level: Optional[int] = None,
                 on_push: Optional[Callable[[str, Any], None]] = None) -> None:
        self._ctx: Optional[int] = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._closing = False
        path = _fspath(config_path)

        opts = _capi.AzrOpenOptions()
        opts.struct_size = sizeof(_capi.AzrOpenOptions)
        if plugin_dir is None and LAYER_PLUGIN_DIR is not None and \
                not _env_plugin_dir() and not _declares_plugin_dir(path):
            plugin_dir = LAYER_PLUGIN_DIR
        self.plugin_dir: Optional[str] = plugin_dir
        if plugin_dir is not None:
            opts.plugin_dir = _fspath(plugin_dir).encode()
        if az_id is not None:
            opts.az_id = az_id.encode()
        # The callbacks must outlive the context: they are kept here and
        # dropped only after azr_close().
        self._log_cb = self._push_cb = None
        if log is not None:
            self._log_cb = _capi.LOG_FN(_log_trampoline(log))
            opts.log = self._log_cb
            opts.log_level = int(log_level) if log_level is not None else 0
        if on_push is not None:
            self._push_cb = _capi.PUSH_FN(
                _push_trampoline(weakref.ref(self), on_push))
            opts.push = self._push_cb

        ctx = c_void_p()
        errbuf = create_string_buffer(_capi.AZR_ERRBUF_SIZE)
        rc = _lib.azr_open_ex(byref(ctx), path.encode(), byref(opts), errbuf)
        if rc != _capi.AZR_OK:
            raise _failure(rc, errbuf)
        self._ctx = ctx.value
        try:
            self._ids: List[str] = [n.id for n in self.nodes]
        except BaseException:
            self.close()
            raise

    # ---- lifetime -----------------------------------------------------

    def _enter(self) -> int:
        with self._lock:
            if self._closing:
                raise InvalidArgumentError("the router is closed")
            self._inflight += 1
            return self._ctx  # type: ignore[return-value]

    def _leave(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._closing and self._inflight == 0:
                self._idle.notify_all()

    def close(self) -> None:
        """Closes the context (pooled connections, plugins). Waits for the
        calls running in other threads; later calls raise
        InvalidArgumentError. Idempotent. Not to be called from a log or
        push callback."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            while self._inflight:
                self._idle.wait()
            ctx, self._ctx = self._ctx, None
        if ctx is not None:
            _lib.azr_close(ctx)
        self._log_cb = self._push_cb = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closing

    def __enter__(self) -> "Router":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_ctx", None) is not None and not self._closing:
                self.close()
        except Exception:  # interpreter shutdown: nothing to report to
            pass

    def __repr__(self) -> str:
        if self._closing:
            return "<azroute.Router closed>"
        info = self.az_info
        return "<azroute.Router az_id=%r source=%r nodes=%d>" % (
            info.az_id, info.source, len(self._ids))

    # ---- the AZ -------------------------------------------------------

    @property
    def az_info(self) -> AzInfo:
        """What the router learned about the caller's AZ (at open or at
        the last :meth:`refresh_az`)."""
        info = _capi.AzrAzInfo()
        ctx = self._enter()
        try:
            rc = _lib.azr_az_info_get(ctx, byref(info))
        finally:
            self._leave()
        if rc != _capi.AZR_OK:
            raise _failure(rc, None)
        return AzInfo(
            known=bool(info.known),
            az_id=info.az_id.decode() if info.known else None,
            source=_lib.azr_az_source_name(info.source).decode(),
            from_cache=bool(info.from_cache),
            fetch_ms=info.fetch_ms,
            expires_in_s=info.expires_in_s,
            error=info.error,
            reason=info.reason.decode("utf-8", "replace"),
        )

    @property
    def az_id(self) -> Optional[str]:
        """The caller's AZ ID (e.g. "apne1-az2"), or None if unknown."""
        return self.az_info.az_id

    @property
    def az_source(self) -> str:
        """Where the AZ ID came from: "lambda", "imds", "ecs", "static" or
        "none" (the source tried, when the AZ is unknown)."""
        return self.az_info.source

    def refresh_az(self) -> AzInfo:
        """Learns the AZ ID again (from the process-wide cache while it is
        valid; after :func:`invalidate_az`, from the source) and recomputes
        which nodes are same-AZ. Blocking (may do HTTP). Raises the fetch
        error (e.g. MetadataError); routing goes on either way, with no
        node counted as same-AZ."""
        ctx = self._enter()
        try:
            rc = _lib.azr_refresh_az(ctx)
        finally:
            self._leave()
        info = self.az_info
        if rc != _capi.AZR_OK:
            raise error_for(rc, info.reason or
                            _lib.azr_strerror(rc).decode())
        return info

    @property
    def topology_mode(self) -> str:
        """"static" or "replication" ([topology] mode)."""
        ctx = self._enter()
        try:
            return _lib.azr_topology_mode_name(ctx).decode()
        finally:
            self._leave()

    @property
    def topology_generation(self) -> int:
        """Number of the node table in use: 1 after open, one more at each
        change (a failover, a replica joining or leaving, a reload)."""
        ctx = self._enter()
        try:
            return int(_lib.azr_topology_generation(ctx))
        finally:
            self._leave()

    def refresh_topology(self) -> None:
        """Discovers the group now (live topology) and swaps the table in
        if it changed. Blocking. A failed discovery keeps the table in use
        and raises its error."""
        self._call_with_errbuf(_lib.azr_topology_refresh)

    def reload(self) -> None:
        """Reads the router's azroute.ini again and swaps it in. A file
        that does not load leaves the running configuration untouched and
        raises ConfigError ("FILE:LINE: ...")."""
        self._call_with_errbuf(_lib.azr_reload)

    def _call_with_errbuf(self, fn: Any) -> None:
        errbuf = create_string_buffer(_capi.AZR_ERRBUF_SIZE)
        ctx = self._enter()
        try:
            rc = fn(ctx, errbuf)
        finally:
            self._leave()
        if rc != _capi.AZR_OK:
            raise _failure(rc, errbuf)

    def invalidate_az(self) -> None:
        """Same as :func:`azroute.invalidate_az` (the cache is
        process-wide, not this router's)."""
        invalidate_az()

    # ---- the node table -----------------------------------------------

    @property
    def nodes(self) -> List[Node]:
        """The node table, by index."""
        ctx = self._enter()
        try:
            out = []
            for i in range(_lib.azr_node_count(ctx)):
                info = _capi.AzrNodeInfo()
                rc = _lib.azr_node_get(ctx, i, byref(info))
                if rc != _capi.AZR_OK:
                    raise _failure(rc, None)
                out.append(Node(
                    index=info.index, id=_text(info.id) or "",
                    host=_text(info.host) or "", port=info.port,
                    az_id=_text(info.az_id) or None, az_name=_text(info.az_name),
                    role="primary" if info.role == _capi.AZR_ROLE_PRIMARY
                    else "replica",
                    weight=info.weight, priority=info.priority,
                    same_az=bool(info.same_az),
                    az_source=_AZ_SOURCES[info.az_source]
                    if 0 <= info.az_source < len(_AZ_SOURCES) else "unknown",
                    present=bool(info.present)))
            return out
        finally:
            self._leave()

    def _node_id(self, index: int) -> str:
        if index < len(self._ids):
            return self._ids[index]
        self._ids = [n.id for n in self.nodes]
        return self._ids[index] if index < len(self._ids) else str(index)

    def _node_index(self, node: Union[str, int]) -> int:
        if isinstance(node, int) and not isinstance(node, bool):
            if not 0 <= node < len(self._ids):
                raise NotFoundError("no node with index %d" % node)
            return node
        if isinstance(node, str):
            try:
                return self._ids.index(node)
            except ValueError:
                raise NotFoundError("no node '%s'" % node) from None
        raise InvalidArgumentError("a node is its id (str) or index (int)")

    # ---- routing without the transport --------------------------------

    def pick(self, write: bool = False, *, exclude: Iterable[Union[str, int]] = (),
             attempt: int = 0) -> str:
        """Runs the policy chain for one request and returns the chosen
        node's id (azr_pick / azr_pick_ex). ``exclude`` names nodes already
        tried for this request (ids or indexes), ``attempt`` counts from 0.
        Report the outcome with :meth:`report`. Raises NoNodeError when
        the chain leaves nothing."""
        intent = _capi.AZR_INTENT_WRITE if write else _capi.AZR_INTENT_READ
        excluded = [self._node_index(n) for n in exclude]
        index = c_size_t()
        ctx = self._enter()
        try:
            if not excluded and not attempt:
                rc = _lib.azr_pick(ctx, intent, byref(index))
            else:
                arr = (c_size_t * max(len(excluded), 1))(*excluded)
                req = _capi.AzrPickRequest(intent, attempt, arr, len(excluded))
                rc = _lib.azr_pick_ex(ctx, byref(req), byref(index))
        finally:
            self._leave()
        if rc != _capi.AZR_OK:
            raise _failure(rc, None)
        return self._node_id(index.value)

    def report(self, node: Union[str, int], status: Union[Status, str, int] = Status.OK,
               *, rtt_ns: int = 0, attempt: int = 0) -> None:
        """Reports how a request to ``node`` (id or index) ended
        (azr_report): ``status`` is a :class:`Status` (or its name, e.g.
        "timeout"), ``rtt_ns`` the measured round trip in nanoseconds
        (used only when the node answered: OK or ERROR_REPLY), ``attempt``
        the attempt number given to :meth:`pick`."""
        if isinstance(status, str):
            try:
                status = Status[status.upper()]
            except KeyError:
                raise InvalidArgumentError("unknown status '%s'" % status) from None
        index = self._node_index(node)
        if rtt_ns < 0:
            raise InvalidArgumentError("rtt_ns must not be negative")
        ctx = self._enter()
        try:
            rc = _lib.azr_report(ctx, index, int(rtt_ns), int(status), attempt)
        finally:
            self._leave()
        if rc != _capi.AZR_OK:
            raise _failure(rc, None)

    # ---- commands ------------------------------------------------------

    def execute(self, *args: Arg, write: bool = False,
                timeout_ms: Optional[float] = None, blocking: bool = False,
                with_node: bool = False) -> Any:
        """Runs one command on the node the chain picks (azr_exec_ex) and
        returns its reply: a simple string as str, a bulk string as bytes,
        nil as None, an integer as int, an array/set/push as list, a map
        as dict, a double as float, a boolean as bool, a big number as
        int, a verbatim string as str. An error reply raises ReplyError;
        any other failure an azroute.Error subclass.

        ``write=True`` routes to a primary (a write is retried on another
        node only if it was never sent). ``timeout_ms`` bounds the wait
        for the reply (default: the transport's command_timeout_ms);
        ``blocking=True`` marks a command the server holds on purpose
        (BLPOP ...), so its wait is not taken as the node's latency.
        ``with_node=True`` returns ``(reply, node_id)``.
        """
        cmd = _command(args)
        if timeout_ms is None and not blocking:
            opts = _WRITE if write else _READ
        else:
            opts = _exec_options(write, timeout_ms, blocking)
        reply = _capi._ReplyP()
        index = c_size_t()
        errbuf = create_string_buffer(_capi.AZR_ERRBUF_SIZE)
        ctx = self._enter()
        try:
            rc = _lib.azr_exec_ex(ctx, byref(opts), byref(cmd), byref(reply),
                                  byref(index), errbuf)
        finally:
            self._leave()
        if rc != _capi.AZR_OK:
            raise _failure(rc, errbuf)
        try:
            value = convert(reply.contents)
        finally:
            _lib.azr_reply_free(reply)
        if isinstance(value, ReplyError):
            raise value
        return (value, self._node_id(index.value)) if with_node else value

    def pipeline(self, commands: Iterable[Sequence[Arg]], *, write: bool = False,
                 raise_on_error: bool = True,
                 with_node: bool = False) -> Any:
        """Sends the commands back to back on one connection to the node
        the chain picks (azr_connect + azr_conn_pipeline) and returns
        their replies, in order, converted as by :meth:`execute`.

        With ``raise_on_error`` (the default) the first error reply is
        raised as ReplyError (after every reply was read); otherwise error
        replies are returned in the list as ReplyError instances. A
        transport failure raises for the whole pipeline (it is not retried
        on another node: some commands may have run). ``with_node=True``
        returns ``(replies, node_id)``.
        """
        cmds = []
        for c in commands:
            if isinstance(c, (str, bytes)):
                raise InvalidArgumentError(
                    "each command of a pipeline is a sequence of arguments, "
                    "e.g. ('GET', 'k')")
            cmds.append(_command(tuple(c)))
        n = len(cmds)
        if n == 0:
            return ([], None) if with_node else []
        arr = (AzrCommand * n)(*cmds)
        replies = (_capi._ReplyP * n)()
        conn = c_void_p()
        errbuf = create_string_buffer(_capi.AZR_ERRBUF_SIZE)
        node = None
        intent = _capi.AZR_INTENT_WRITE if write else _capi.AZR_INTENT_READ
        ctx = self._enter()
        try:
            rc = _lib.azr_connect(ctx, intent, byref(conn), errbuf)
            if rc == _capi.AZR_OK:
                try:
                    node = _lib.azr_conn_node(conn)
                    rc = _lib.azr_conn_pipeline(conn, n, arr, replies, errbuf)
                finally:
                    _lib.azr_conn_close(conn)
        finally:
            self._leave()
        try:
            if rc != _capi.AZR_OK:
                raise _failure(rc, errbuf)
            values = [convert(replies[i].contents) for i in range(n)]
        finally:
            for i in range(n):
                if replies[i]:
                    _lib.azr_reply_free(replies[i])
        if raise_on_error:
            for v in values:
                if isinstance(v, ReplyError):
                    raise v
        return (values, self._node_id(node)) if with_node else values

    # ---- statistics ----------------------------------------------------

    def stats_text(self, format: str = "json") -> str:  # noqa: A002
        """The statistics snapshot formatted by the library
        (azr_stats_format): "json" (one line), "prometheus" (text
        exposition 0.0.4) or "emf" (one CloudWatch Embedded Metric Format
        line: print it from a Lambda function and CloudWatch makes the
        metrics)."""
        kinds = {"json": _capi.AZR_STATS_JSON,
                 "prometheus": _capi.AZR_STATS_PROMETHEUS,
                 "emf": _capi.AZR_STATS_EMF}
        if format not in kinds:
            raise InvalidArgumentError(
                "unknown stats format '%s' (json, prometheus, emf)" % format)
        snap = c_void_p()
        ctx = self._enter()
        try:
            rc = _lib.azr_stats_get(ctx, byref(snap))
            if rc != _capi.AZR_OK:
                raise _failure(rc, None)
            try:
                out = c_void_p()
                length = c_size_t()
                rc = _lib.azr_stats_format(ctx, snap, kinds[format],
                                           byref(out), byref(length))
                if rc != _capi.AZR_OK:
                    raise _failure(rc, None)
                try:
                    return string_at(out, length.value).decode("utf-8", "replace")
                finally:
                    _free(out)
            finally:
                _lib.azr_stats_free(snap)
        finally:
            self._leave()

    def stats(self) -> dict:
        """The statistics snapshot as a dict: the fields of the library's
        JSON format (az_id, requests, answered, errors, same_az_share,
        bytes_sent, bytes_received, cross_az_bytes, cross_az_cost_usd,
        topology_changes, pushes_unclaimed, redirects_moved, redirects_ask,
        cluster_retries (cluster mode), nodes: [{id, host, port, az_id,
        role, same_az, picks, requests, answered, errors, by_status,
        bytes_sent, bytes_received, avg_ms, latency_estimate_ms, ejections,
        ejected}])."""
        return json.loads(self.stats_text("json"))


def _fspath(p: Any) -> str:
    path = os.fspath(p)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path


def _env_plugin_dir() -> bool:
    return bool(os.environ.get("AZROUTE_PLUGIN_DIR"))


def _log_trampoline(log: Callable[[LogLevel, str], None]):
    def trampoline(_userdata: Any, level: int, message: bytes) -> None:
        try:
            try:
                lvl: Any = LogLevel(level)
            except ValueError:
                lvl = level
            log(lvl, message.decode("utf-8", "replace"))
        except Exception:  # never unwind into C
            pass
    return trampoline


def _push_trampoline(router_ref: "weakref.ref[Router]",
                     on_push: Callable[[str, Any], None]):
    def trampoline(_userdata: Any, index: int, push: Any) -> None:
        try:
            router = router_ref()
            node = router._ids[index] if router is not None and \
                index < len(router._ids) else str(index)
            on_push(node, convert(push.contents))
        except Exception:  # never unwind into C
            pass
    return trampoline


def open(config_path: Union[str, "os.PathLike[str]"], *,  # noqa: A001
         az_id: Optional[str] = None, plugin_dir: Optional[str] = None,
         log: Optional[Callable[[LogLevel, str], None]] = None,
         log_level: Optional[int] = None,
         on_push: Optional[Callable[[str, Any], None]] = None) -> Router:
    """Opens a router over the azroute.ini at ``config_path``
    (azr_open_ex): loads the policy chain and the transport and learns the
    caller's AZ ID (from $AZROUTE_AZ_ID, ``az_id``, or the file's
    [metadata] source: the Lambda metadata endpoint, IMDS, ECS). A failure
    to learn the AZ does not fail the open (see ``Router.az_info``).

    Args:
        az_id: a fixed AZ ID that overrides [metadata].
        plugin_dir: the directory plain plugin names resolve in (absolute).
            Default: $AZROUTE_PLUGIN_DIR, else the file's plugin_dir, else,
            when the library was loaded from a Lambda layer, the layer's
            ``lib/azroute`` (``LAYER_PLUGIN_DIR``), else the library's
            compiled-in default.
        log: called with (LogLevel, one line) for each library message,
            from whichever thread produced it; must not call the router.
        log_level: the most verbose level delivered (default WARNING).
        on_push: called with (node id, converted frame) for each RESP3
            push frame that arrives while a command waits for its reply.

    Raises ConfigError ("FILE:LINE: ..."), PluginError, ... on failure.
    """
    return Router(config_path, az_id=az_id, plugin_dir=plugin_dir, log=log,
                  log_level=log_level, on_push=on_push)
