"""The one composition root: ``Engine.open(settings)`` builds everything promessa runs on.

The server, the CLI, the demo and the benchmarks all start here, so they serve the same
snapshot the same way: load (or generate) the snapshot, open the durable order book, load the
pricing rules, customer master and screening lists (``build_commerce``), rebuild the commitments,
customers, pricing records and catalogue changes from the order book, attach the double-buffered live pair, prepare the models
promising derives from a snapshot (allocation, CTP, sourcing network), release the temporary
reservations that expired and start their expiry scheduler, compile the kernels a
request can reach, and start the snapshot watcher when one is configured.

Nothing registers itself by import: every package used is imported here by name.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path

from promessa.config import Settings

log = logging.getLogger("promessa.app")


def load_or_generate_snapshot(settings: Settings):
    """The snapshot named by ``settings.snapshot.path``; without one, the small sample (generated once).
    In the form ``settings.supply.form`` says (`supply_loader`)."""
    from supplydata.generate import generate

    load = supply_loader(settings)
    if settings.snapshot.path is not None:
        return load(settings.snapshot.path)
    sample = Path(settings.snapshot.sample_dir)
    if not (sample / "meta.json").exists():
        log.info("no snapshot given: generating the small sample in %s", sample)
        generate(sample, seed=settings.snapshot.sample_seed)
    return load(sample)


def supply_loader(settings: Settings):
    """``loader(directory) -> snapshot`` for start-up and every refresh: the dense `supplydata.load_snapshot`, or
    with ``supply.form=compact`` the compact `supplydata.sparse.load_compact` followed by `check_compact`."""
    from supplydata import load_snapshot

    if settings.supply.form != "compact":
        return load_snapshot

    def load_checked(directory):
        from supplydata.sparse import load_compact

        return check_compact(load_compact(directory), settings)

    return load_checked


#: What the compact form does not run yet, by the snapshot table that asks for it.
_DENSE_ONLY_TABLES = (("allocation", "allocation (quota pools per demand class)"),
                      ("bom", "capable-to-promise (bills of material)"),
                      ("resources", "capable-to-promise (resource capacity)"),
                      ("substitutes", "substitution"))


def check_compact(snap, settings: Settings):
    """Refuse, at start-up and on every refresh, what the live engine on the compact supply form would
    answer wrongly: a snapshot with allocation, bill, resource or substitute rows, and real-time sourcing
    (``orders.location_choice=sourcing``). Each refusal is a `promessa.errors.FormUnsupported` naming the
    feature and the setting. Returns the snapshot."""
    from promessa.errors import FormUnsupported

    for table, feature in _DENSE_ONLY_TABLES:
        df = snap.tables.get(table)
        if df is not None and df.height:
            raise FormUnsupported(f"{feature}: the snapshot {snap.source} has {df.height} {table} rows")
    if settings.orders.location_choice == "sourcing":
        raise FormUnsupported("real-time sourcing (orders.location_choice=sourcing; orders.location_choice=zone "
                              "runs on the compact form)")
    return snap


def location_chooser(settings: Settings):
    """The node for order lines that name none: real-time sourcing, or the ranked zone rules."""
    from sourcing.choosers import SourcingChooser, ZoneChooser

    if settings.orders.location_choice == "sourcing":
        return SourcingChooser(objective=settings.orders.sourcing_objective)
    return ZoneChooser()


def build_commerce(settings: Settings):
    """What prices and checks orders, from ``settings.pricing``: the price book (the rules directory; none:
    catalogue prices only), the customer master (the customers file; none: no customer check) and the
    denied-party and embargo lists (none: no screening). Bad files are refused naming the file, row, field and
    value. Returns an ``orderbook.commerce.Commerce`` (the order service replays what the API posted on top)."""
    from compliance import load_lists
    from customers import load_customers
    from orderbook.commerce import Commerce
    from pricing import PriceBook, load_book

    p = settings.pricing
    book = load_book(p.rules_dir) if p.rules_dir is not None else PriceBook()
    master = load_customers(p.customers) if p.customers is not None else None
    lists = load_lists(p.denied_parties, p.embargoes) if (p.denied_parties or p.embargoes) else None
    return Commerce(settings, book=book, master=master, lists=lists)


def prepare_models(snap) -> None:
    """Build what promising derives from a snapshot before it serves (at start and on every refresh)."""
    from allocation.model import model_for
    from promising.ctp import ctp_model
    from sourcing.network import network_for

    if snap.form == "compact":
        return  # plain ATP only (`check_compact` refused the snapshots these models serve)
    for build in (model_for, ctp_model, network_for):
        build(snap)


@dataclasses.dataclass
class Engine:
    """What a running promessa holds. Close it (or use it as a context manager) to write what is
    queued and release the store."""

    settings: Settings
    store: object
    service: object
    live: object
    watcher: object | None = None
    o2c: object | None = None  # ordertocash.OrderToCash: payments, invoices, returns, channel on the order events
    orchestration: object | None = None  # promessa.wiring.Orchestration: each order's process, outbox, inbound updates
    ready_s: float = 0.0
    compile_s: float = 0.0
    configurator: object | None = None  # configurator.service.Configurator: model versions and sessions
    reorder: object | None = None  # reorder.ReorderBook: reorder policies, report, proposals released as supply deltas

    @property
    def snapshot(self):
        return self.service.snap

    @property
    def state(self):
        return self.service.state

    @classmethod
    def open(cls, settings: Settings | None = None, *, snapshot=None, metrics=None, warm: bool | tuple[str, ...] = True,
             watch: bool = True, say=None, wallclock=None, expiry: bool = True,
             warm_start: WarmStart | None = None) -> Engine:
        """Open promessa.

        Parameters
        ----------
        settings : the configuration (default: ``Settings()``, from the environment).
        snapshot : an already loaded Snapshot (tests, benchmarks); default: ``settings.snapshot``.
        metrics : the metrics registry the service records into (the server passes its own).
        warm : compile the kernels a request can reach before returning (said on ``say``); a tuple of
            ``WARM_PATHS`` names compiles only those paths (the rest compile on first use).
        watch : start the snapshot watcher when ``settings.snapshot.watch`` is set.
        say : where to tell a person what takes time (a callable taking one line); default: the log.
        wallclock : ``wallclock() -> datetime`` (UTC), the clock temporary reservations expire on (default: the
            wall clock; tests move their own).
        expiry : release the temporary reservations that expired before serving, then start the scheduler that
            releases each as it expires (``settings.reservations.sweep_interval_s``); a one-shot command
            (CLI, benchmarks) may pass False.
        warm_start : the warm-up's worker processes, started ahead by ``start_warm_up`` (the demo starts them
            as soon as its network exists); the engine's warm-up waits for them, or stops them if opening fails.

        Returns
        -------
        Engine with the order service serving the live pair.
        """
        from orderbook.metrics import Metrics
        from orderbook.service import OrderService
        from orderbook.store import open_store

        settings = settings or Settings()
        say = say or log.info
        t0 = time.perf_counter()
        try:
            snap = snapshot if snapshot is not None else load_or_generate_snapshot(settings)
            if snap.form != settings.supply.form:
                from promessa.errors import ValidationError

                raise ValidationError(f"the snapshot given is in the {snap.form} form", field="supply.form",
                                      value=settings.supply.form, hint="load it with supplydata.sparse.load_compact "
                                      "for supply.form=compact, supplydata.load_snapshot for dense")
            if snap.form == "compact":
                check_compact(snap, settings)
            prepare_models(snap)
            store = open_store(settings.store.url, pg_schema=settings.store.pg_schema)
        except BaseException:
            if warm_start is not None:
                warm_start.stop()
            raise
        svc = engine = None
        try:
            from configurator.capture import ConfiguredCapture  # configured order lines: resolve, price, commit
            from configurator.service import Configurator  # model versions (files, durable uploads), sessions
            from scenarios.service import plan as reschedule_planner

            configurator = Configurator.open(settings)
            svc = OrderService(snap, store, settings, metrics=metrics or Metrics(), chooser=location_chooser(settings),
                               planner=reschedule_planner, commerce=build_commerce(settings),
                               configured=ConfiguredCapture(configurator.library), wallclock=wallclock)
            live = svc.attach_live()
            live.prepare = prepare_models
            live.loader = supply_loader(settings)
            engine = cls(settings=settings, store=store, service=svc, live=live, configurator=configurator)
            from reorder import ReorderBook  # policies, proposals (durable records), release = a supply delta

            engine.reorder = ReorderBook(svc, settings)
            if settings.o2c.enabled:
                from ordertocash import OrderToCash

                engine.o2c = OrderToCash.open(svc, settings)
            if settings.orchestration.processes:  # each order's process on the order events; relay and tick loops
                from promessa.wiring import Orchestration

                engine.orchestration = Orchestration.open(svc, settings)
            consumers = [*(engine.o2c.consumers() if engine.o2c is not None else ()),
                         *(engine.orchestration.consumers() if engine.orchestration is not None else ())]
            if consumers:
                svc.start_events(consumers, poll_s=settings.o2c.poll_s)  # caught up before serving
            if engine.orchestration is not None:
                engine.orchestration.start()
            if expiry:  # expired holds are released before serving, the others as they expire
                svc.start_expiry()
            if warm:
                engine.compile_s = warm_up(svc, say=say, paths=None if warm is True else tuple(warm),
                                           processes=settings.kernels.warm_up_processes, started=warm_start)
            elif warm_start is not None:
                warm_start.join(say)
            if watch and settings.snapshot.watch is not None:
                from supplydata.watch import SnapshotWatcher

                engine.watcher = SnapshotWatcher(live, settings.snapshot.watch,
                                                 interval_s=settings.snapshot.watch_interval_s).start()
        except BaseException:
            if warm_start is not None:
                warm_start.stop()
            if svc is not None and svc.expiry is not None:
                svc.expiry.stop()
            if svc is not None and svc.events is not None:
                svc.events.stop()
            if engine is not None and engine.o2c is not None:
                engine.o2c.close()
            if engine is not None and engine.orchestration is not None:
                engine.orchestration.close()
            store.close()
            raise
        engine.ready_s = time.perf_counter() - t0
        return engine

    def close(self) -> None:
        """Stop the watcher and the expiry scheduler, write what is queued, close the store."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        try:
            self.service.close()  # also stops the order-event dispatcher
        finally:
            if self.o2c is not None:
                self.o2c.close()
            if self.orchestration is not None:
                self.orchestration.close()
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# The kernel paths a request can reach, each warmed by the calls that reach it. Costs are relative
# compile times (measured on a cold cache), used to share the paths out among worker processes.
# "quota" is a demand class's availability curve at an item-location with quota pools (real-time sourcing
# reads it for every candidate node with pools; so do the allocation inquiries): its kernel compiles the
# curve kernels (``views_nb``, ``curve_nb``, ``_quota_left``) the one-line allocation kernel also calls, with
# the same signatures, so a process that warms it first leaves them in numba's disk cache before the process
# compiling allocation reaches them (it types them last) and that one loads them instead of compiling them.
WARM_PATHS = {"atp": 1.0, "quota": 1.0, "allocation": 5.0, "ctp": 4.0, "sourcing": 1.5}
#: Order of the paths within one process's share: what the allocation kernel shares first (see above).
_FIRST = ("quota", "atp", "sourcing", "ctp", "allocation")


def _top_kernel(path: str):
    """The outermost kernel of a warm-up path: cached on disk means the path is cached."""
    if path == "atp":
        from promising.kernels import promise_1d_nb as k
    elif path == "allocation":
        from allocation.kernels import promise_class_one_nb as k
    elif path == "quota":
        from allocation.kernels import class_availability_1d_nb as k
    elif path == "ctp":
        from promising.ctp_kernels import ctp_promise_1d_nb as k
    elif path == "sourcing":
        from sourcing.kernels import order_dp_nb as k
    else:
        raise KeyError(path)
    return k


def reachable_paths(snap, chooser=None) -> tuple[str, ...]:
    """The warm-up paths a request on ``snap`` can reach: ATP always; allocation and capable-to-promise
    when the snapshot has allocation or bill-of-material rows; real-time sourcing when ``chooser`` is a
    ``SourcingChooser``, and with it the quota curves when the snapshot has allocation rows."""
    from sourcing.choosers import SourcingChooser

    out = ["atp"]
    for path, table in (("allocation", "allocation"), ("ctp", "bom")):
        df = snap.tables.get(table)
        if df is not None and df.height:
            out.append(path)
    if isinstance(chooser, SourcingChooser):
        out.append("sourcing")
        if "allocation" in out:
            out.append("quota")
    return tuple(out)


def _cached(path: str) -> bool:
    """True when numba's on-disk cache holds the outermost kernel of ``path`` for this source (numba
    drops an index whose source changed). A probe of numba's cache index; unknown means not cached."""
    try:
        disp = _top_kernel(path)
        return bool(disp._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - a probe: anything unexpected means "compile it"
        return False


def _warm_path(path: str, snap, state, chooser, classes, *, pooled: bool = True) -> None:
    """Make the calls that reach the kernels of ``path``: inquiry, commit and release, the shortfall
    paths (a quantity no one has) and the demand-class path, on ``state`` (a throwaway copy).
    ``pooled`` False: real-time sourcing only for an item without quota pools (sourcing an item with
    pools also promises through the allocation kernel, which a process whose share lacks allocation
    leaves to the process compiling it)."""
    from promising import Policy, Request, atp_report, promise, unreserve

    if path == "quota":
        from allocation.core import class_availability

        pair = _pooled_pair(snap)
        if pair is not None:
            for dc in classes:
                class_availability(snap, state, *pair, dc)
        return
    if path == "sourcing":
        from sourcing.choosers import zones

        zs = sorted(zones(snap))
        if not zs or chooser is None:
            return
        # the first item-location's item in one zone, and an item with quota pools at some node in every zone
        # (its candidate nodes then include a pooled one: the class-curve rows sourcing reads, the class path)
        items = [snap.il_name(0)[0]]
        pair = _pooled_pair(snap) if pooled else None
        if pair is not None and pair[0] != items[0]:
            items.append(pair[0])
        for item in items:
            for z in zs if item != items[0] else zs[:1]:
                for dc in classes:
                    for qty in (1.0, 1e9):
                        chooser(snap, state, item=item, qty=qty, requested_date=snap.as_of, zone=z, policy=Policy(),
                                demand_class=dc)
        return
    if path == "atp":
        pair = snap.il_name(0)
        if snap.form != "compact":  # the report runs on the dense form only
            atp_report(snap, state, *pair)
    else:
        df = snap.tables.get("allocation" if path == "allocation" else "bom")
        if df is None or not df.height:
            return
        pair = (df["item"][0], df["location"][0])
    item, loc = pair
    for dc in classes:
        for qty in (1.0, 1e9):
            for pol in (Policy(), Policy(allow_split=True, allow_partial=True)):
                p = promise(snap, state, Request(item, loc, qty, snap.as_of, pol, dc), commit=True)
                if p.committed:
                    unreserve(snap, state, p.reservation)


def _pooled_pair(snap) -> tuple[str, str] | None:
    """(item, location) of the first item-location with quota pools, or None when none has any."""
    from allocation.model import model_for

    model = model_for(snap)
    if not model.n_pools:
        return None
    for il in range(snap.n_il):
        lo, hi = model.pools_of(il)
        if hi > lo:
            return snap.il_name(il)
    return None


def _demand_classes(snap) -> list:
    dc = snap.tables.get("demand_classes")
    return [None, *sorted(dc["demand_class"].to_list())[:1]] if dc is not None and dc.height else [None]


def _share(paths: list[str], workers: int) -> list[list[str]]:
    """Paths shared among ``workers`` processes, longest first onto the least loaded (LPT); within a
    share, in the order of ``_FIRST`` (what the allocation kernel can load from another process first)."""
    buckets: list[list[str]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for p in sorted(paths, key=lambda p: -WARM_PATHS[p]):
        k = load.index(min(load))
        buckets[k].append(p)
        load[k] += WARM_PATHS[p]
    return [sorted(b, key=_FIRST.index) for b in buckets if b]


def _cpus(processes: int) -> int:
    import os

    return processes or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class WarmStart:
    """Worker processes compiling their shares of the warm-up paths into numba's on-disk cache (numba holds
    the GIL while compiling, so threads would not help). ``shares[0]`` is the share the starting process
    compiles itself; one worker (``python -m promessa.warmup --worker``) per other share loads the snapshot,
    makes the calls of its paths and exits, leaving the kernels in the disk cache."""

    def __init__(self, shares: list[list[str]], source: Path, objective: str | None) -> None:
        import subprocess
        import tempfile

        self.shares = shares
        self.procs = []
        for share in shares[1:]:
            cmd = [sys.executable, "-m", "promessa.warmup", "--worker", ",".join(share), "--snapshot", str(source.resolve())]
            if objective:
                cmd += ["--objective", objective]
            err = tempfile.TemporaryFile(mode="w+")
            self.procs.append((share, err, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)))

    def join(self, say) -> None:
        """Wait for the workers; say which failed (the warm-up pass that follows compiles their share here)."""
        procs, self.procs = self.procs, []
        for share, err, proc in procs:
            proc.wait()
            err.seek(0)
            last = err.read().strip().splitlines()[-1:]
            err.close()
            if proc.returncode != 0:
                say(f"  the worker compiling {', '.join(share)} failed (exit {proc.returncode}){': ' + last[0] if last else ''}")

    def stop(self) -> None:
        """Stop the workers (interrupted or failed start-up) and wait for them."""
        for _, _, proc in self.procs:
            proc.kill()
        self.join(lambda line: None)


def _start(cold: list[str], source: Path, objective: str | None, say, processes: int) -> WarmStart | None:
    cpus = _cpus(processes)
    if len(cold) < 2 or cpus < 2 or not (source / "meta.json").exists():
        return None
    shares = _share(cold, min(cpus, len(cold)))
    say(f"compiling the kernels of {', '.join(cold)} in {len(shares)} processes "
        f"(numba; cached on disk, so only the first run pays) ...")
    return WarmStart(shares, source, objective)


def start_warm_up(settings: Settings, paths: tuple[str, ...], *, say=None) -> WarmStart | None:
    """Start the warm-up's worker processes before ``Engine.open`` (pass the result as its ``warm_start``),
    so they compile while the engine loads the snapshot and opens the order book, and the one compiling
    the quota curves is well ahead of the process compiling allocation, which then loads the curve kernels
    they share instead of compiling them. ``paths`` as ``Engine.open``'s ``warm`` tuple, on the snapshot
    directory ``settings.snapshot.path``. None when there is nothing to share out (warm cache, one process,
    no snapshot directory yet): the warm-up then runs as without it."""
    if settings.snapshot.path is None or settings.kernels.warm_up_processes == 1:
        return None
    if "sourcing" in paths:
        paths = (*paths, "quota")
    cold = [p for p in dict.fromkeys(paths) if not _cached(p)]
    objective = settings.orders.sourcing_objective if settings.orders.location_choice == "sourcing" else None
    return _start(cold, Path(settings.snapshot.path), objective, say or log.info, settings.kernels.warm_up_processes)


def _compile_in_parallel(svc, paths: list[str], say, processes: int = 0, started: WarmStart | None = None) -> int:
    """Compile the paths whose kernels numba's disk cache lacks, in worker processes (``WarmStart``; the
    ones ``started`` ahead, else started now), while this process compiles its own share; then wait for
    them. Returns how many processes compiled (1: nothing was run in parallel)."""
    from sourcing.choosers import SourcingChooser

    snap = svc.snap
    if started is None:
        chooser = svc.chooser
        objective = chooser.objective if isinstance(chooser, SourcingChooser) else None
        started = _start([p for p in paths if not _cached(p)], Path(str(snap.source)), objective, say, processes)
        if started is None:
            return 1
    try:
        state = svc.state.copy()
        mine = started.shares[0]
        for p in mine:
            if p in paths:
                _warm_path(p, snap, state, svc.chooser, _demand_classes(snap), pooled="allocation" in mine)
    except BaseException:  # interrupted or failed: stop the workers, then wait for them
        started.stop()
        raise
    started.join(say)
    return len(started.shares)


def warm_worker(paths: list[str], snapshot: str, objective: str | None = None) -> None:
    """A warm-up worker process (``python -m promessa.warmup --worker PATHS --snapshot DIR``): load the
    snapshot, prepare its models, make the calls of ``paths`` on a fresh state; the compiled kernels stay
    in numba's on-disk cache for the process that started it."""
    from sourcing.choosers import SourcingChooser
    from supplydata import load_snapshot

    snap = load_snapshot(snapshot)
    prepare_models(snap)
    chooser = SourcingChooser(objective=objective) if objective else None
    state = snap.new_state()
    for p in paths:
        _warm_path(p, snap, state, chooser, _demand_classes(snap), pooled="allocation" in paths)


def warm_up(svc, *, say=None, paths=None, processes: int = 0, started: WarmStart | None = None) -> float:
    """Compile the kernels a request may reach before the first request arrives (``paths``: a subset of
    ``WARM_PATHS``; default: every path the snapshot and the location chooser can reach), on a throwaway
    copy of the state. With a cold cache and ``processes`` other than 1 (0: one per core), worker processes
    compile disjoint paths into numba's on-disk cache while this process compiles its own share, then this
    process loads them; ``started``: those workers, already started (``start_warm_up``).
    Returns the seconds it took (compile time, reported apart)."""
    snap = svc.snap
    svc.commerce.book_for(snap, svc.business_day)  # the catalogue pricing reads, built once per snapshot
    if not snap.n_il:
        if started is not None:
            started.join(say or log.info)
        return 0.0
    t0 = time.perf_counter()
    say = say or log.info
    reach = reachable_paths(snap, svc.chooser)
    if paths is not None and "sourcing" in paths:
        paths = (*paths, "quota")  # real-time sourcing reads the quota curves
    paths = list(reach) if paths is None else [p for p in dict.fromkeys(paths) if p in reach]
    procs = _compile_in_parallel(svc, paths, say, processes, started) if processes != 1 or started else 1
    state = svc.state.copy()
    classes = [None, *sorted(svc.demand_classes or ())[:1]]
    for p in paths:
        _warm_path(p, snap, state, svc.chooser, classes)
    took = time.perf_counter() - t0
    if took > 1.0:
        say(f"kernels for {', '.join(paths)} compiled (or loaded from the cache) in {took:.1f} s"
            + (f" by {procs} processes" if procs > 1 else ""))
    return took


def stderr_say(line: str) -> None:
    """Tell a person at the terminal (the CLI's ``say``)."""
    print(line, file=sys.stderr, flush=True)
