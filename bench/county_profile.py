"""Where a county push's CPU goes: `POST /api/v1/counties/{county}/tickets` in-process, profiled.

    .venv/bin/python -m bench.county_profile [--county gaoxin] [--batches 16] [--batch 50] [--concurrency 4] [--profile] [--top 40]

The hub is built as `hotline-hub serve` builds it (every installed feature, the group commit
on a SQLite file) on a fresh file at synchronous=NORMAL (no fsync: the CPU is what is
measured), and the ASGI application is called directly (no socket, no HTTP parser: uvicorn's
share is the same for the bare stack). `--concurrency` batches are in flight at a time, so the
group commit batches as under bench.county_push. Prints the CPU time (process_time) per
ticket; with `--profile`, cProfile of the event loop's thread, of each batch's worker thread
(the route's mapping and registration run there) and of the group commit's writer, merged:
the top functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._common import asgi_post, print_profiles
from bench.county_push import SECRET, _tickets

KEY = "hub_benchcounty_" + "k" * 32


def _build(data: Path, county: str) -> tuple[Any, Any, Any]:
    os.environ.update(
        {
            "HUB_DATA_DIR": str(data),
            "HUB_DATABASE_URL": f"sqlite:///{data / 'hub.db'}",
            "HUB_SQLITE_SYNCHRONOUS": "NORMAL",
            "HUB_PHONE_INDEX_KEY": "00" * 32,
            "HUB_LOG_LEVEL": "WARNING",
        }
    )
    # Imported once the environment names the fresh file: the settings read it.
    from adapters.county.config import load_counties
    from hub.api.app import create_app
    from hub.db.migrate import upgrade
    from hub.domain.model import Role
    from hub.logmask import configure_logging
    from hub.runtime import build_hub
    from hub.settings import REPO_ROOT, Settings

    cfg = load_counties(REPO_ROOT / "mappings")[county]
    if cfg.security.hmac_secret_env:
        os.environ[cfg.security.hmac_secret_env] = SECRET
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    hub = build_hub(settings)
    upgrade(hub.db.writer)
    hub.keys.create(cfg.key_party, Role.COUNTY, hub.clock.now(), divisions=list(cfg.divisions), key=KEY)
    return hub, create_app(hub), cfg


async def _load(app: Any, cfg: Any, bodies: list[bytes], concurrency: int) -> None:
    # Imported here like the settings above: only once the hub is built.
    from adapters.county.signing import signed_headers

    left = list(bodies)
    path = f"/api/v1/counties/{cfg.county}/tickets"

    async def client() -> None:
        while left:
            body = left.pop()
            extra = signed_headers(SECRET, int(time.time()), body) if cfg.security.hmac_secret_env else {}
            status, answer = await asgi_post(app, path, body, KEY, extra)
            results = json.loads(answer).get("results") if status == 200 else None
            if not results or any(r["status"] != "created" for r in results):
                raise RuntimeError(f"answered {status}: {answer[:300]!r}")

    await asyncio.gather(*(client() for _ in range(concurrency)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--county", default="gaoxin")
    p.add_argument("--batches", type=int, default=16)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=40)
    args = p.parse_args()

    def bodies(start: int, n: int) -> list[bytes]:
        return [json.dumps(_tickets(args.county, (start + b) * args.batch, args.batch), ensure_ascii=False).encode() for b in range(n)]

    with tempfile.TemporaryDirectory() as d:
        hub, app, cfg = _build(Path(d), args.county)
        # Imported once the hub is built (see _build): the route module whose worker is profiled.
        import adapters.county.api as county_api

        try:
            asyncio.run(_load(app, cfg, bodies(10_000, 4), args.concurrency))  # warm-up: imports, caches, compiled statements
            profiles: list[cProfile.Profile] = []
            lock = threading.Lock()
            group = hub.db.group
            spent = {"worker": 0.0, "writer": 0.0}  # CPU seconds of the batches' worker threads and of the group commit's writer
            push_batch = county_api._push_batch

            def measured_batch(*a: Any) -> Any:
                prof = cProfile.Profile(time.thread_time)  # CPU of this worker thread, not time waiting for the GIL
                if args.profile:
                    with lock:
                        profiles.append(prof)
                    prof.enable()
                start = time.thread_time()
                try:
                    return push_batch(*a)
                finally:
                    prof.disable()
                    with lock:
                        spent["worker"] += time.thread_time() - start

            county_api._push_batch = measured_batch  # type: ignore[assignment]
            if group is not None:
                writer_profile = cProfile.Profile(time.thread_time)
                profiles.append(writer_profile)
                commit = group._commit

                def measured_commit(batch: Any) -> None:
                    if args.profile:
                        writer_profile.enable()
                    start = time.thread_time()
                    try:
                        commit(batch)
                    finally:
                        writer_profile.disable()
                        spent["writer"] += time.thread_time() - start

                group._commit = measured_commit  # type: ignore[method-assign]
            loop_profile = cProfile.Profile(time.thread_time)
            work = bodies(0, args.batches)
            cpu, wall = time.process_time(), time.perf_counter()
            if args.profile:
                loop_profile.enable()
            asyncio.run(_load(app, cfg, work, args.concurrency))
            if args.profile:
                loop_profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            hub.close()
    tickets = args.batches * args.batch
    print(
        f"{tickets} tickets in {args.batches} batches of {args.batch}, {args.concurrency} in flight: "
        f"{cpu / tickets * 1000:.3f} ms CPU per ticket, {tickets / wall:.0f} tickets/s in-process"
    )
    print(
        f"of which: the route's worker threads (mapping, checks, answers) {spent['worker'] / tickets * 1000:.3f} ms, "
        f"the group commit's writer (the registrations) {spent['writer'] / tickets * 1000:.3f} ms per ticket"
    )
    if args.profile:
        print_profiles(loop_profile, profiles, args.top)


if __name__ == "__main__":
    main()
