"""Running the hub: build it with its features, migrate the embedded database, serve."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

import uvicorn

from hub import metrics
from hub.api.app import create_app
from hub.container import Hub
from hub.db import bulk
from hub.db.migrate import upgrade
from hub.db.person_seal import check_key
from hub.domain.clock import Clock
from hub.domain.model import Role
from hub.features import Feature, load_features
from hub.integration.destinations import check_destinations
from hub.logmask import configure_logging
from hub.metrics_processes import use_processes
from hub.settings import Settings

log = logging.getLogger("hub")


def build_hub(settings: Settings, clock: Clock | None = None, features: Sequence[Feature] | None = None) -> Hub:
    """The hub with every feature plugged in (those given, else every installed one). Features
    add event sinks, routers and handles here, in one place, so the core never imports them."""
    hub = Hub.build(settings, clock)
    try:
        # Before any feature builds its own: a bad destination stops the start here, with
        # its file, line, field and why (DestinationErrors), not in the relay hours later.
        check_destinations(settings, hub.clock, catalogue=hub.catalogue)
    except BaseException:
        hub.close()
        raise
    for feature in load_features() if features is None else features:
        feature.install(hub)
    metrics.install(hub)
    return hub


def open_hub(settings: Settings | None = None, features: Sequence[Feature] | None = None) -> Hub:
    """The hub for a one-shot command (CLI): every feature installed, the embedded SQLite
    default migrated first (PostgreSQL is migrated by `hotline-hub db upgrade`)."""
    settings = settings or Settings()
    hub = build_hub(settings, features=features)
    if hub.db.is_sqlite and settings.auto_migrate:
        upgrade(hub.db.writer)
    return hub


class HubOpener:
    """What the CLI hands every command (hub.features.HubOpener): the hub built with the
    features `hotline-hub` already loaded to add its commands, once per call."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.features = list(features)

    def __call__(self, settings: Settings | None = None) -> Hub:
        return open_hub(settings, self.features)

    def build(self, settings: Settings | None = None) -> Hub:
        return build_hub(settings or Settings(), features=self.features)


def check_person_seal(hub: Hub) -> None:
    """A person_seal_key that cannot open the stored documents stops the start here, saying
    what to do (hub.db.person_seal.PersonSealKeyMismatch), not a request later with a 500."""
    try:
        with hub.db.read() as s:
            check_key(s)
    except BaseException:
        hub.close()
        raise


def put_back_phone_index(hub: Hub) -> bool:
    """A legacy import killed while the cases' phone index was out (hub/db/bulk.py) left every
    search by phone reading the whole table, still right but slow: `serve` builds it again
    before its first request (seconds at a million cases, and only after such a crash).
    True when it had to."""
    with hub.db.write() as s:
        if not bulk.phone_index_missing(s):
            return False
        log.warning("the cases' phone index was missing (a legacy import stopped before putting it back): building it again")
        bulk.ensure_phone_index(s)
    return True


def log_start_warnings(hub: Hub) -> None:
    """What features found worth saying at start (e.g. a 双号并行 line with no live bridge),
    logged by the long-running commands only: a one-shot command stays quiet about it."""
    for logger, message in hub.start_warnings:
        logging.getLogger(logger).warning("%s", message)


def serve(settings: Settings, features: Sequence[Feature] | None = None, processes: int = 1) -> None:
    """The HTTP API until SIGTERM or Ctrl-C; with the background workers on the embedded
    default. `processes` > 1: that many API processes on one listening socket (POSIX), each
    a whole hub (the workers lead through their leases, so each leads once across them)."""
    configure_logging(settings.log_level, settings.log_format)
    if processes > 1 and not hasattr(os, "fork"):
        log.warning("serve --workers %d: this system cannot fork; serving in one process", processes)
        processes = 1
    if processes <= 1:
        _serve_process(settings, features, prepare=True)
        return
    _serve_processes(settings, features, processes)


def _prepare(hub: Hub, settings: Settings) -> None:
    """What a start does once, before any request: migrate the embedded default, check the
    seal key, create the bootstrap key, say what is worth saying."""
    if hub.db.is_sqlite and settings.auto_migrate:
        upgrade(hub.db.writer)
    put_back_phone_index(hub)
    check_person_seal(hub)
    if settings.bootstrap_key is not None and hub.keys.count() == 0:
        hub.keys.create("centre", Role.SUPERVISOR, hub.clock.now(), note="bootstrap", key=settings.bootstrap_key.get_secret_value())
    log_start_warnings(hub)
    if hub.keys.count() == 0:  # a first install: nobody can call the API yet
        log.warning(
            "no API key yet: nobody can call the API. Create the first with "
            "`hotline-hub keys create --party centre --role supervisor` (printed once), "
            "or set HUB_BOOTSTRAP_KEY before starting (README, Commands)"
        )


def _serve_process(settings: Settings, features: Sequence[Feature] | None, prepare: bool, sock: socket.socket | None = None) -> None:
    hub = build_hub(settings, features=features)
    if prepare:
        _prepare(hub, settings)
    app = create_app(hub)
    # On the embedded default one process is the whole hub: it runs the background
    # workers (relay, scheduler, pollers) itself. At scale they run as their own commands.
    workers = list(hub.workers) if (hub.db.is_sqlite or settings.workers_in_serve) else []
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with its default
    # action, which would end the process before the workers stop and give their leases
    # back (a poller with a one-hour interval stayed blocked for hours). Our handler turns it
    # into an exception, so the `finally` below runs; then the signal ends the process as before.
    terminated = False
    previous = _catch_sigterm()
    try:
        for worker in workers:
            worker.start()
        if sock is None:
            log.info("hub serving on http://%s:%s (database %s)", settings.host, settings.port, "SQLite file" if hub.db.is_sqlite else "PostgreSQL")
        # proxy_headers off: which proxies to believe is the hub's setting `trusted_proxies`
        # (hub/api/client_address.py), not uvicorn's FORWARDED_ALLOW_IPS as well.
        options: dict[str, Any] = dict(host=settings.host, port=settings.port, log_config=None, access_log=False, proxy_headers=False)
        if sock is None:
            uvicorn.run(app, **options)
        else:  # an API process of several: the socket `serve` bound before forking it
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
    except _Terminated:
        terminated = True
    finally:
        _restore_sigterm(previous)  # a second SIGTERM during the stop ends the process at once
        for worker in reversed(workers):
            worker.stop()
        hub.close()
    if terminated:
        log.info("stopped by SIGTERM; workers stopped and their leases released")
        signal.raise_signal(signal.SIGTERM)


def _serve_processes(settings: Settings, features: Sequence[Feature] | None, processes: int) -> None:
    """`processes` API processes forked from this one, all accepting on one socket; this one
    only watches them. SIGTERM or Ctrl-C stops them all (each stops its workers and gives its
    leases back); one that ends on its own stops the others too, and `serve` exits 1, so the
    service manager restarts the whole (no half-served hub)."""
    # Before any metric is made: /metrics sums the processes' counters (hub/metrics_processes.py).
    metrics_directory = tempfile.mkdtemp(prefix="hotline-hub-metrics-")
    try:
        _run_processes(settings, features, processes, metrics_directory)
    finally:
        shutil.rmtree(metrics_directory, ignore_errors=True)


def _run_processes(settings: Settings, features: Sequence[Feature] | None, processes: int, metrics_directory: str) -> None:
    use_processes(metrics_directory)
    hub = build_hub(settings, features=features)
    try:
        _prepare(hub, settings)  # once, before any API process opens the file
        database = "SQLite file" if hub.db.is_sqlite else "PostgreSQL"
    finally:
        hub.close()
    # Forked with no thread running: a lock another thread held would stay held in the child.
    if threading.active_count() > 1:
        log.warning("serve --workers %d: threads still run after the start checks; serving in one process", processes)
        _serve_process(settings, features, prepare=False)
        return
    sock = uvicorn.Config(app=None, host=settings.host, port=settings.port, log_config=None).bind_socket()  # type: ignore[arg-type]
    children: set[int] = set()
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            _api_process(settings, features, sock)  # never returns
        children.add(pid)
    log.info("hub serving on http://%s:%s in %d processes (database %s)", settings.host, settings.port, processes, database)
    stopped_by: int | None = None  # the signal that asked for the stop
    failed = False

    def stop_all(signum: int, _frame: object) -> None:
        nonlocal stopped_by
        if stopped_by is None:
            stopped_by = signum
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop_all) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            children.discard(pid)
            if stopped_by is None:
                log.error("an API process (pid %d) ended on its own (wait status %d): stopping the others", pid, status)
                failed = True
                stop_all(signal.SIGTERM, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    if failed:
        raise SystemExit(1)
    log.info("all API processes stopped")
    if stopped_by is not None:
        signal.raise_signal(stopped_by)  # ends as the one-process serve does: by the signal (Ctrl-C: KeyboardInterrupt)


def _api_process(settings: Settings, features: Sequence[Feature] | None, sock: socket.socket) -> NoReturn:
    """A forked API process: a whole hub of its own, serving on the shared socket."""
    code = 0
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        _die_with_parent()
        _serve_process(settings, features, prepare=False, sock=sock)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("API process failed")
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the watching `serve` dies (even by SIGKILL), so no API
    process is left serving without it. Elsewhere nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call above
        os.kill(os.getpid(), signal.SIGTERM)


class NoSuchWorker(ValueError):
    """`work --only NAME` named no worker of this hub (a usage error: exit 2)."""


def pick_workers(names: Sequence[str], only: Sequence[str], skip: Sequence[str]) -> list[str]:
    """The worker names `work` runs: those starting with an `--only` prefix (all when none is
    given), less those starting with a `--skip` prefix. Prefixes, so `county-poller` takes
    every county's poller and `legacy-puller-12315` one line's."""
    for prefix in only:
        if not any(n.startswith(prefix) for n in names):
            raise NoSuchWorker(f"--only {prefix}: no worker starts so; this hub's workers: {', '.join(names) or 'none'}")
    return [n for n in names if (not only or any(n.startswith(p) for p in only)) and not any(n.startswith(p) for p in skip)]


def work(settings: Settings, only: Sequence[str] = (), skip: Sequence[str] = (), features: Sequence[Feature] | None = None) -> int:
    """The background workers without the API, until SIGTERM or Ctrl-C: how the scaled-out
    topology runs its pollers, scheduler, retention pass and sub-centre router beside several
    `serve` processes (deploy/). Each worker leads through its lease, so a second `work` on
    another machine stands by instead of doing the work twice. 0 stopped, 1 no worker to run."""
    configure_logging(settings.log_level, settings.log_format)
    hub = build_hub(settings, features=features)
    if hub.db.is_sqlite and settings.auto_migrate:
        upgrade(hub.db.writer)
    check_person_seal(hub)
    chosen = set(pick_workers([w.name for w in hub.workers], only, skip))
    workers = [w for w in hub.workers if w.name in chosen]
    if not workers:
        hub.close()
        log.warning("no background worker to run (none configured, or all skipped)")
        return 1
    log_start_warnings(hub)
    terminated = False
    stop = threading.Event()
    previous = _catch_sigterm()
    try:
        for worker in workers:
            worker.start()
        log.info("working: %s", ", ".join(w.name for w in workers))
        stop.wait()
    except (_Terminated, KeyboardInterrupt) as exc:
        terminated = isinstance(exc, _Terminated)
    finally:
        _restore_sigterm(previous)
        for worker in reversed(workers):
            worker.stop()  # leases given back: a standby takes over at once
        hub.close()
    log.info("workers stopped and their leases released")
    if terminated:
        signal.raise_signal(signal.SIGTERM)
    return 0


class _Terminated(Exception):
    """SIGTERM reached `serve` (directly, or raised again by uvicorn after its shutdown)."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise _Terminated()


# What signal.signal takes and gives back (its Handlers are ints); None: nothing to restore.
_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def _catch_sigterm() -> _SignalHandler:
    if threading.current_thread() is not threading.main_thread():
        return None  # serve run from a thread (tests): signals stay with the main thread
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore_sigterm(previous: _SignalHandler) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
