"""Warm-up: which kernel paths a snapshot reaches, how they are shared among worker processes, and
the compile-time accounting that reports compiling apart from steady-state time."""

from __future__ import annotations

import numpy as np
from numba import njit

from promessa.app import _share, reachable_paths
from promessa.compiling import compile_seconds, compiled_kernels, loaded_kernels, watch_compiles
from sourcing.choosers import SourcingChooser, ZoneChooser
from supplydata import load_snapshot
from supplydata.generate import generate


def test_paths_are_shared_longest_first_onto_the_least_loaded_process():
    # costs: allocation 5, ctp 4, sourcing 1.5, atp 1, quota 1 -> allocation | ctp; sourcing joins ctp (4 < 5): 5.5;
    # atp joins allocation (5 < 5.5): 6; within a share the quota curves first, then atp, sourcing, ctp, allocation
    assert _share(["atp", "allocation", "ctp", "sourcing"], 2) == [["atp", "allocation"], ["sourcing", "ctp"]]
    assert _share(["atp", "sourcing"], 2) == [["sourcing"], ["atp"]]
    assert _share(["atp", "allocation", "sourcing"], 1) == [["atp", "sourcing", "allocation"]]
    assert _share(["atp"], 3) == [["atp"]]  # no empty shares, so no idle worker process
    # the demo's paths: allocation alone; the other process warms the quota curves (which allocation calls too) first
    # allocation 5 | sourcing 1.5, atp 1 (1.5 < 5) -> 2.5, quota 1 -> 3.5
    assert _share(["atp", "allocation", "sourcing", "quota"], 2) == [["allocation"], ["quota", "atp", "sourcing"]]


def test_reachable_paths_follow_the_snapshot_and_the_chooser(tmp_path, make_snapshot):
    generate(tmp_path / "net", seed=7, size="tiny")
    snap = load_snapshot(tmp_path / "net")
    has = {t: snap.tables.get(t) is not None and snap.tables[t].height > 0 for t in ("allocation", "bom")}
    expected = ["atp"] + [p for p, t in (("allocation", "allocation"), ("ctp", "bom")) if has[t]]
    assert list(reachable_paths(snap, ZoneChooser())) == expected
    assert list(reachable_paths(snap, SourcingChooser())) == [*expected, "sourcing", *(["quota"] if has["allocation"] else [])]
    bare = make_snapshot(supply=[("A", "L1", 0, 5)])  # no allocation, no bill of material
    assert reachable_paths(bare, SourcingChooser()) == ("atp", "sourcing")
    assert reachable_paths(bare) == ("atp",)


def test_compiles_are_counted_once_per_outermost_kernel_and_told():
    told: list[str] = []
    watch_compiles(say=told.append)
    try:
        @njit  # not cached: compiles in this process every time the test runs
        def inner(x):
            return x * 2.0

        @njit
        def outer(a):
            s = 0.0
            for v in a:
                s += inner(v)
            return s

        s0, k0 = compile_seconds(), compiled_kernels()
        assert outer(np.arange(4.0)) == 12.0
        assert compiled_kernels() == k0 + 1  # inner compiled inside outer's compile: counted in it
        took = compile_seconds() - s0
        assert took > 0
        name = f"{__name__}.{outer.py_func.__qualname__}"
        assert len(told) == 2 and told[0].startswith(f"compiling kernel {name} (")
        assert told[1].startswith(f"  compiled {name} in ") and abs(float(told[1].split()[-2]) - took) <= 0.051
        assert outer(np.arange(3.0)) == 6.0  # same signature: no compile
        assert compiled_kernels() == k0 + 1 and abs(compile_seconds() - s0 - took) < 1e-9
        outer(np.arange(3, dtype=np.int64))  # a new signature compiles again (inner too, inside it)
        assert compiled_kernels() == k0 + 2
    finally:
        watch_compiles(say=None)


def test_a_worker_process_leaves_its_kernels_in_the_disk_cache(tmp_path):
    # what the parallel warm-up relies on: a worker compiles its share into numba's on-disk cache (an empty
    # one here), where the process that started it then finds them
    import os
    import subprocess
    import sys
    from pathlib import Path

    generate(tmp_path / "net", seed=7, size="tiny")
    cache = tmp_path / "numba-cache"
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "promessa.warmup", "--worker", "atp", "--snapshot", str(tmp_path / "net")],
                   env=env, check=True, timeout=1200, cwd=tmp_path)
    indexes = {p.name.split("-")[0] for p in cache.rglob("*.nbi")}
    assert {"kernels.promise_1d_nb", "kernels.peg_1d_nb", "kernels.discrete_atp_1d_nb"} <= indexes


def test_loaded_kernels_name_each_signature_this_process_holds():
    from supplydata.kernels import net_cumsum_nb

    a = np.zeros((2, 3))
    net_cumsum_nb(a, a.copy(), a.copy())
    held = loaded_kernels()
    assert ("supplydata.kernels.net_cumsum_nb", str(net_cumsum_nb.signatures[0])) in held
    assert all(not name.startswith("numba.") for name, _ in held)


def test_the_demo_reaches_no_kernel_while_capturing_that_its_warm_up_did_not(tmp_path):
    # the demo compares the (kernel, signature) pairs it holds before and after capturing and names the new ones,
    # which is meaningful whatever numba's disk cache holds: a kernel first reached while capturing is added then,
    # compiled (cold cache) or loaded (warm). The demo's own network and a slice of its order stream.
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", "import sys; from promessa.cli import main; sys.exit(main())", "demo",
                          "--dir", str(tmp_path), "--size", "small", "--orders", "400"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200, cwd=tmp_path)
    text = out.stdout  # stdout and stderr in the order printed
    assert out.returncode == 0, text[-3000:]
    assert "captured 400 orders" in text
    assert "the warm-up did not" not in text, text[-3000:]
    after_ready = text.split("ready in", 1)[1]
    assert "compiling kernel" not in after_ready, text[-3000:]  # (nothing compiles at all when the cache was warm)


def test_a_warm_start_shares_only_what_the_disk_cache_lacks(tmp_path, monkeypatch):
    # start_warm_up starts workers only for paths whose outermost kernel the disk cache lacks, and only with a
    # snapshot directory and more than one process; the cache probe is replaced here by a fixed answer
    import promessa.app as app
    from promessa.config import settings_of

    generate(tmp_path / "net", seed=7, size="tiny")
    started: list = []
    monkeypatch.setattr(app, "WarmStart", lambda shares, source, objective: started.append((shares, source, objective)) or "ws")
    monkeypatch.setattr(app, "_cached", lambda path: path == "atp")
    demo = ("atp", "allocation", "sourcing")
    two = settings_of(snapshot=tmp_path / "net", warm_up_processes=2, location_choice="sourcing")
    assert app.start_warm_up(two, demo, say=lambda line: None) == "ws"
    # atp is cached; sourcing brings the quota curves; allocation alone, the rest in the worker, quota first
    assert started == [([["allocation"], ["quota", "sourcing"]], tmp_path / "net", two.orders.sourcing_objective)]
    assert app.start_warm_up(settings_of(snapshot=tmp_path / "net", warm_up_processes=1), demo) is None
    assert app.start_warm_up(settings_of(warm_up_processes=2), demo) is None  # no snapshot directory
    monkeypatch.setattr(app, "_cached", lambda path: path != "allocation")
    assert app.start_warm_up(two, demo) is None and len(started) == 1  # one cold path: nothing to share


def test_a_cached_kernel_loads_lightly_and_gives_the_same_answer(tmp_path):
    # inside light_cache_loads a kernel found in numba's disk cache runs without numba's compiler being prepared
    # (its lowering registries, e.g. numba.np.linalg, stay unimported); a miss still compiles; the loader is restored
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = """if True:
        import json, sys
        import numpy as np
        from numba.core import caching
        from promessa.compiling import light_cache_loads
        from scenarios.kernels import rows_by_il_nb
        before = caching.Cache.load_overload
        with light_cache_loads():
            out = rows_by_il_nb(np.array([2, 0, -1, 2, 1], np.int64), 3).tolist()  # allocates: numba's runtime
        print(json.dumps({"out": out, "linalg": "numba.np.linalg" in sys.modules,
                          "restored": caching.Cache.load_overload is before}))
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      timeout=600, check=True).stdout) for _ in range(2)]
    # rows grouped by item-location, ils < 0 first, input order within one: -1 (row 2), 0 (1), 1 (4), 2 (0, 3)
    assert [r["out"] for r in runs] == [[2, 1, 4, 0, 3]] * 2
    assert all(r["restored"] for r in runs)
    assert runs[1]["linalg"] is False  # the second process found the kernel in the cache the first one wrote
