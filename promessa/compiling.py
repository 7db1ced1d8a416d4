"""Kernel compile time, told apart from steady-state time.

numba compiles a kernel on its first call with a new type signature, or loads it from its on-disk
cache (``cache=True`` on every kernel). The loads take milliseconds; a compile takes seconds. This
module listens to numba's ``numba:compile`` event, which numba fires only for real compiles (not for
cache loads), and keeps:

- the seconds spent compiling in this process (:func:`compile_seconds`), so a command can report its
  steady-state time without them;
- a line for a person when a kernel starts and ends compiling (:func:`watch_compiles` with a ``say``),
  so a slow first run says what it is doing.

Only the outermost compile counts: a kernel calling other kernels compiles them inside its own
compile, and that time is counted once.

:func:`loaded_kernels` lists the (kernel, signature) pairs this process holds, compiled or loaded from
the disk cache alike, so a command can tell which kernels a step reached that its warm-up did not
(the demo says so after capturing), whatever the state of the disk cache.

:func:`light_cache_loads` makes numba load kernels from its disk cache without first preparing its
compiler (importing and installing every lowering registry of its CPU target: about 0.2 s of CPU once
per process, which a command that only loads kernels never uses); the `promessa` command runs inside it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator

_lock = threading.Lock()
_local = threading.local()
_totals = {"seconds": 0.0, "kernels": 0}
_say: list[Callable[[str], None] | None] = [None]
_installed = [False]


def _name(dispatcher) -> str:
    f = getattr(dispatcher, "py_func", None)
    if f is None:
        return repr(dispatcher)
    return f"{f.__module__}.{f.__qualname__}"


def _listener():
    from numba.core import event

    class _Compiles(event.Listener):
        def on_start(self, ev) -> None:
            depth = getattr(_local, "depth", 0)
            _local.depth = depth + 1
            if depth == 0:
                _local.t0 = time.perf_counter()
                _local.name = _name(ev.data["dispatcher"])
                say = _say[0]
                if say is not None:
                    say(f"compiling kernel {_local.name} (first use; numba keeps it in its on-disk cache) ...")

        def on_end(self, ev) -> None:
            _local.depth -= 1
            if _local.depth == 0:
                took = time.perf_counter() - _local.t0
                with _lock:
                    _totals["seconds"] += took
                    _totals["kernels"] += 1
                say = _say[0]
                if say is not None:
                    say(f"  compiled {_local.name} in {took:.1f} s")

    return _Compiles()


def watch_compiles(say: Callable[[str], None] | None = None) -> None:
    """Count kernel compiles in this process from now on (idempotent); with ``say``, also tell a
    person each time one starts and ends (``say=None`` keeps counting and stops telling)."""
    with _lock:
        _say[0] = say
        if _installed[0]:
            return
        from numba.core import event

        event.register("numba:compile", _listener())
        _installed[0] = True


def compile_seconds() -> float:
    """Seconds spent compiling kernels in this process since :func:`watch_compiles` was first called."""
    with _lock:
        return _totals["seconds"]


def compiled_kernels() -> int:
    """How many kernels (outermost compiles) this process compiled since :func:`watch_compiles`."""
    with _lock:
        return _totals["kernels"]


def loaded_kernels() -> frozenset[tuple[str, str]]:
    """(kernel, signature) of every signature the kernels of the loaded modules hold in this process
    (compiled here or loaded from numba's disk cache; numba's own modules left out). A kernel another
    kernel calls is linked into the caller's compiled code, so it appears only once called by itself."""
    from numba.core.dispatcher import Dispatcher

    out = set()
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or mod_name.split(".")[0] == "numba":
            continue
        for obj in list(getattr(mod, "__dict__", {}).values()):
            # type(), not isinstance(): some extension modules' globals (SWIG's cvar) raise on __class__
            if issubclass(type(obj), Dispatcher) and getattr(obj.py_func, "__module__", None) == mod_name:
                out.update((_name(obj), str(sig)) for sig in list(obj.overloads))
    return frozenset(out)


@contextlib.contextmanager
def light_cache_loads() -> Iterator[None]:
    """Inside this block numba loads a kernel from its on-disk cache with only what the loaded machine code
    needs: its runtime (NRT, whose functions the code calls), not the refresh of the whole CPU target that numba's
    ``Cache.load_overload`` does first (the lowering registries of every numba feature, used only to compile).
    A cache miss compiles as usual: numba's compiler refreshes the target itself. Should the light load fail,
    numba's own load runs. numba's loader is restored on leaving the block (this process only).

    numba 0.68's ``Cache.load_overload`` is ``target_context.refresh()`` then ``self._load_overload(sig,
    target_context)``; a numba without ``_load_overload`` keeps its own loader."""
    from numba.core import caching

    orig = caching.Cache.load_overload
    if getattr(orig, "light", False) or not hasattr(caching.Cache, "_load_overload"):
        yield
        return
    from numba.core.runtime import rtsys

    def load_overload(self, sig, target_context):
        try:
            rtsys.initialize(target_context)
            return self._load_overload(sig, target_context)
        except Exception:  # anything the light path lacks: numba's own load (refresh first)
            return orig(self, sig, target_context)

    load_overload.light = True
    caching.Cache.load_overload = load_overload
    try:
        yield
    finally:
        caching.Cache.load_overload = orig
