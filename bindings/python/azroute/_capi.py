"""ctypes mirror of <azroute/azroute.h> and the loader of libazroute.

Everything here is private to the package. The structures below mirror the
header field by field, in order, with the same C types; ctypes lays them
out with the platform's C rules, so they match what the compiler made of
the header. Structures that carry a ``struct_size`` field are always given
``ctypes.sizeof`` of the mirror: the library then reads only the fields this
mirror knows, whatever version it is.

The library is looked for, in order:

1. ``$AZROUTE_LIBRARY`` (a path; when set, nothing else is tried);
2. the dynamic loader's own search (``LD_LIBRARY_PATH``, the ld.so cache,
   the default directories): ``libazroute.so.0``, then what
   ``ctypes.util.find_library("azroute")`` names;
3. ``<layer>/lib/libazroute.so.0`` when this package sits in
   ``<layer>/python/azroute`` (a Lambda layer unpacked anywhere);
4. ``/opt/lib/libazroute.so.0`` (a Lambda layer).

ctypes releases the GIL around every foreign call (``CDLL``, not
``PyDLL``), so blocking calls (network I/O, metadata fetches) let other
Python threads run, and the library's own thread safety is what applies.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_longlong,
    c_size_t,
    c_uint,
    c_uint16,
    c_uint64,
    c_void_p,
)
from typing import Iterator, Optional, Tuple

SONAME = "libazroute.so.0"
LAYER_LIBRARY = "/opt/lib/libazroute.so.0"

# Sizes and limits of the header.
AZR_ERRBUF_SIZE = 256
AZR_AZ_ID_MAX = 64

# azr_code
AZR_OK = 0
AZR_E_INVALID_ARGUMENT = 1
AZR_E_NOMEM = 2
AZR_E_CONFIG = 3
AZR_E_PLUGIN = 4
AZR_E_NO_NODE = 5
AZR_E_METADATA = 6
AZR_E_METADATA_AUTH = 7
AZR_E_TIMEOUT = 8
AZR_E_CONNECT = 9
AZR_E_TLS = 10
AZR_E_PROTOCOL = 11
AZR_E_SERVER_REPLY = 12
AZR_E_IO = 13
AZR_E_NO_TRANSPORT = 14
AZR_E_UNSUPPORTED = 15
AZR_E_AUTH = 16
AZR_E_NOT_FOUND = 17
AZR_E_CROSSSLOT = 18

# azr_intent
AZR_INTENT_READ = 0
AZR_INTENT_WRITE = 1

# azr_role
AZR_ROLE_PRIMARY = 0
AZR_ROLE_REPLICA = 1

# azr_status
AZR_STATUS_OK = 0
AZR_STATUS_TIMEOUT = 1
AZR_STATUS_REFUSED = 2
AZR_STATUS_ERROR_REPLY = 3
AZR_STATUS_TLS_FAILURE = 4
AZR_STATUS_IO_ERROR = 5
AZR_STATUS_CANCELLED = 6

# azr_log_level
AZR_LOG_DEFAULT = 0
AZR_LOG_ERROR = 1
AZR_LOG_WARNING = 2
AZR_LOG_INFO = 3
AZR_LOG_DEBUG = 4

# azr_reply_type
AZR_REPLY_STATUS = 1
AZR_REPLY_ERROR = 2
AZR_REPLY_INTEGER = 3
AZR_REPLY_STRING = 4
AZR_REPLY_NIL = 5
AZR_REPLY_ARRAY = 6
AZR_REPLY_MAP = 7
AZR_REPLY_SET = 8
AZR_REPLY_PUSH = 9
AZR_REPLY_DOUBLE = 10
AZR_REPLY_BOOL = 11
AZR_REPLY_BIGNUM = 12
AZR_REPLY_VERBATIM = 13
AZR_REPLY_BLOB_ERROR = 14

# azr_stats_kind
AZR_STATS_JSON = 0
AZR_STATS_PROMETHEUS = 1
AZR_STATS_EMF = 2

AZR_EXEC_BLOCKING = 1

# C enums are int-sized here (every enumerator fits in an int).
c_enum = c_int


class AzrReply(Structure):
    """struct azr_reply. ``str`` is declared as a plain address (not
    c_char_p) so that reading it never stops at an embedded NUL: the
    payload is taken with ctypes.string_at(str, len)."""


AzrReply._fields_ = [
    ("type", c_enum),
    ("integer", c_longlong),
    ("dval", c_double),
    ("len", c_size_t),
    ("str", c_void_p),
    ("vtype", c_char * 4),
    ("elements", c_size_t),
    ("element", POINTER(POINTER(AzrReply))),
    ("attribute", POINTER(AzrReply)),
]

# typedef void (*azr_log_fn)(void *userdata, azr_log_level, const char *);
LOG_FN = CFUNCTYPE(None, c_void_p, c_enum, c_char_p)
# typedef void (*azr_push_fn)(void *userdata, size_t node_index,
#                             const struct azr_reply *push);
PUSH_FN = CFUNCTYPE(None, c_void_p, c_size_t, POINTER(AzrReply))
# typedef uint64_t (*azr_clock_fn)(void *); typedef uint64_t (*azr_random_fn)(void *);
CLOCK_FN = CFUNCTYPE(c_uint64, c_void_p)
RANDOM_FN = CFUNCTYPE(c_uint64, c_void_p)


class AzrOpenOptions(Structure):
    """struct azr_open_options (set struct_size to its sizeof)."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("plugin_dir", c_char_p),
        ("log", LOG_FN),
        ("log_userdata", c_void_p),
        ("log_level", c_enum),
        ("clock", CLOCK_FN),
        ("random", RANDOM_FN),
        ("source_userdata", c_void_p),
        ("az_id", c_char_p),
        ("push", PUSH_FN),
        ("push_userdata", c_void_p),
    ]


class AzrNodeInfo(Structure):
    """struct azr_node_info."""

    _fields_ = [
        ("index", c_size_t),
        ("id", c_char_p),
        ("host", c_char_p),
        ("port", c_uint16),
        ("az_id", c_char_p),
        ("az_name", c_char_p),
        ("role", c_enum),
        ("weight", c_uint),
        ("priority", c_uint),
        ("same_az", c_int),
        ("az_source", c_enum),
        ("present", c_int),
    ]


class AzrPickRequest(Structure):
    """struct azr_pick_request."""

    _fields_ = [
        ("intent", c_enum),
        ("attempt", c_uint),
        ("excluded", POINTER(c_size_t)),
        ("n_excluded", c_size_t),
    ]


class AzrAzInfo(Structure):
    """struct azr_az_info."""

    _fields_ = [
        ("known", c_int),
        ("az_id", c_char * AZR_AZ_ID_MAX),
        ("source", c_enum),
        ("from_cache", c_int),
        ("fetch_ms", c_double),
        ("expires_in_s", c_int64),
        ("error", c_enum),
        ("reason", c_char * AZR_ERRBUF_SIZE),
    ]


class AzrCommand(Structure):
    """struct azr_command (argv is binary-safe: argvlen gives lengths)."""

    _fields_ = [
        ("argc", c_size_t),
        ("argv", POINTER(c_char_p)),
        ("argvlen", POINTER(c_size_t)),
    ]


class AzrExecOptions(Structure):
    """struct azr_exec_options (set struct_size to its sizeof)."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("intent", c_enum),
        ("timeout_ms", c_uint),
        ("flags", c_uint),
    ]


# The statistics snapshot is only ever handed back to the library
# (azr_stats_format, azr_stats_free): an opaque pointer is enough, and the
# binding does not depend on its layout.
AzrStatsP = c_void_p
AzrCtxP = c_void_p
AzrConnP = c_void_p

_ReplyP = POINTER(AzrReply)
_ReplyPP = POINTER(_ReplyP)
_Errbuf = c_char_p  # a create_string_buffer(AZR_ERRBUF_SIZE) or None

# name: (restype, argtypes)
_PROTOTYPES = {
    "azr_strerror": (c_char_p, [c_enum]),
    "azr_version": (c_char_p, [POINTER(c_uint)]),
    "azr_open_ex": (c_enum, [POINTER(AzrCtxP), c_char_p,
                             POINTER(AzrOpenOptions), _Errbuf]),
    "azr_close": (None, [AzrCtxP]),
    "azr_node_count": (c_size_t, [AzrCtxP]),
    "azr_node_get": (c_enum, [AzrCtxP, c_size_t, POINTER(AzrNodeInfo)]),
    "azr_node_find": (c_enum, [AzrCtxP, c_char_p, POINTER(c_size_t)]),
    "azr_pick": (c_enum, [AzrCtxP, c_enum, POINTER(c_size_t)]),
    "azr_pick_ex": (c_enum, [AzrCtxP, POINTER(AzrPickRequest),
                             POINTER(c_size_t)]),
    "azr_report": (c_enum, [AzrCtxP, c_size_t, c_uint64, c_enum, c_uint]),
    "azr_az_source_name": (c_char_p, [c_enum]),
    "azr_az_info_get": (c_enum, [AzrCtxP, POINTER(AzrAzInfo)]),
    "azr_invalidate_az": (None, []),
    "azr_refresh_az": (c_enum, [AzrCtxP]),
    "azr_reload": (c_enum, [AzrCtxP, c_char_p]),
    "azr_topology_refresh": (c_enum, [AzrCtxP, c_char_p]),
    "azr_topology_generation": (c_uint64, [AzrCtxP]),
    "azr_topology_mode_name": (c_char_p, [AzrCtxP]),
    "azr_reply_free": (None, [_ReplyP]),
    "azr_connect": (c_enum, [AzrCtxP, c_enum, POINTER(AzrConnP), _Errbuf]),
    "azr_conn_node": (c_size_t, [AzrConnP]),
    "azr_conn_pipeline": (c_enum, [AzrConnP, c_size_t, POINTER(AzrCommand),
                                   _ReplyPP, _Errbuf]),
    "azr_conn_close": (None, [AzrConnP]),
    "azr_exec_ex": (c_enum, [AzrCtxP, POINTER(AzrExecOptions),
                             POINTER(AzrCommand), _ReplyPP,
                             POINTER(c_size_t), _Errbuf]),
    "azr_stats_get": (c_enum, [AzrCtxP, POINTER(AzrStatsP)]),
    "azr_stats_free": (None, [AzrStatsP]),
    "azr_stats_format": (c_enum, [AzrCtxP, AzrStatsP, c_enum,
                                  POINTER(c_void_p), POINTER(c_size_t)]),
    "azr_pushes_unclaimed": (c_uint64, [AzrCtxP]),
}


class _DlInfo(Structure):
    _fields_ = [
        ("dli_fname", c_char_p),
        ("dli_fbase", c_void_p),
        ("dli_sname", c_char_p),
        ("dli_saddr", c_void_p),
    ]


def _loaded_path(lib: ctypes.CDLL, fallback: str) -> str:
    """The file the dynamic loader actually mapped for ``lib`` (dladdr on
    one of its functions), or ``fallback`` when that cannot be told."""
    addr = ctypes.cast(lib.azr_version, c_void_p).value
    for name in (None, "libdl.so.2"):
        try:
            dladdr = ctypes.CDLL(name).dladdr
        except (OSError, AttributeError):
            continue
        dladdr.argtypes = [c_void_p, POINTER(_DlInfo)]
        dladdr.restype = c_int
        info = _DlInfo()
        if dladdr(addr, ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(os.fsdecode(info.dli_fname))
    return os.path.realpath(fallback) if os.sep in fallback else fallback


def _package_layer_root() -> Optional[str]:
    """``<layer>`` when this package is ``<layer>/python/azroute``."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    parent = os.path.dirname(pkg)
    if os.path.basename(parent) != "python":
        return None
    return os.path.dirname(parent)


def _candidates() -> Iterator[Tuple[str, bool]]:
    """(name or path, is_path) in the documented search order; lazy, so
    that find_library (which may run ldconfig) runs only when needed."""
    yield SONAME, False
    found = ctypes.util.find_library("azroute")
    if found and found != SONAME:
        yield found, os.sep in found
    root = _package_layer_root()
    if root is not None:
        yield os.path.join(root, "lib", SONAME), True
    yield LAYER_LIBRARY, True


def load() -> Tuple[ctypes.CDLL, str]:
    """Loads libazroute; returns (library, path of the file loaded).
    Raises ImportError with one line naming every place tried."""
    explicit = os.environ.get("AZROUTE_LIBRARY")
    if explicit:
        try:
            lib = ctypes.CDLL(explicit)
        except OSError as exc:
            raise ImportError(
                "azroute: cannot load $AZROUTE_LIBRARY=%s: %s" % (explicit, exc)
            ) from None
        tried = explicit
    else:
        lib = None
        tried_list = []
        for name, is_path in _candidates():
            if is_path and not os.path.exists(name):
                tried_list.append(name + " (absent)")
                continue
            try:
                lib = ctypes.CDLL(name)
                tried = name
                break
            except OSError as exc:
                tried_list.append("%s (%s)" % (name, exc))
        if lib is None:
            raise ImportError(
                "azroute: libazroute not found; set AZROUTE_LIBRARY to its "
                "path or add its directory to LD_LIBRARY_PATH (tried: %s)"
                % "; ".join(tried_list)
            )
    try:
        for fname, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, fname)
            fn.restype = restype
            fn.argtypes = argtypes
    except AttributeError as exc:
        raise ImportError(
            "azroute: %s is not a usable libazroute (%s)" % (tried, exc)
        ) from None
    return lib, _loaded_path(lib, tried)


def layer_plugin_dir(library_path: str) -> Optional[str]:
    """The plugin directory of a Lambda layer, when the library was loaded
    from one: ``<layer>/lib/azroute`` if the library is
    ``<layer>/lib/libazroute.so.0`` and either this package is
    ``<layer>/python/azroute`` or ``<layer>`` is /opt. None otherwise (an
    ordinary installation, whose compiled-in default is right)."""
    libdir = os.path.dirname(library_path)
    plugin_dir = os.path.join(libdir, "azroute")
    if not os.path.isdir(plugin_dir):
        return None
    layer = os.path.dirname(libdir)
    root = _package_layer_root()
    if root is not None and os.path.realpath(root) == os.path.realpath(layer):
        return plugin_dir
    if os.path.realpath(libdir) == os.path.realpath("/opt/lib"):
        return plugin_dir
    return None


def libc_free() -> ctypes._CFuncPtr:
    """free() of the C library the process uses (buffers the library
    returns with "free with free()")."""
    free = ctypes.CDLL(None).free
    free.argtypes = [c_void_p]
    free.restype = None
    return free
