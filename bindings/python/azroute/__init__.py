"""azroute: Availability-Zone-aware routing to Valkey/Redis, from Python.

A pure-stdlib binding (ctypes) over libazroute's public C API
(<azroute/azroute.h>); nothing to compile, nothing from PyPI::

    import azroute
    with azroute.open("azroute.ini") as r:    # or open(path, az_id=..., plugin_dir=...)
        r.az_id, r.az_source                  # "apne1-az2", "lambda"
        r.execute("SET", "k", "v", write=True)  # "OK"  (simple strings as str)
        r.execute("GET", "k")                 # b"v"   (bulk strings as bytes; None for nil)
        r.pipeline([("GET", "a"), ("GET", "b")])  # [b"1", None]
        r.stats()                             # dict: the statistics snapshot

Replies: status -> str, bulk -> bytes, integer -> int, nil -> None,
array/set/push -> list, map -> dict, double -> float, bool -> bool,
big number -> int, verbatim -> str; an error reply raises
:class:`ReplyError`. Every other failure raises a subclass of
:class:`Error` carrying ``.code`` (the azr_code) and the one-line message.

The shared library is found through $AZROUTE_LIBRARY, else the dynamic
loader's search path (libazroute.so.0), else a Lambda layer's lib/
(``<layer>/lib`` next to ``<layer>/python/azroute``, then /opt/lib).
``azroute.LIBRARY_PATH`` says which file was loaded. Everything is
thread-safe; ctypes releases the GIL during each call.
"""
from __future__ import annotations

from . import errors, router
# The package's names are its modules' public names, listed once there.
from .errors import *  # noqa: F401,F403
from .router import *  # noqa: F401,F403

__version__ = "0.1.0"

__all__ = ["errors"] + [n for n in errors.__all__ if n != "error_for"] + \
    router.__all__
