"""Where one registration's CPU goes: `POST /api/v1/cases` in-process, profiled end to end.

    .venv/bin/python -m bench.intake_profile [--cases 400] [--concurrency 16] [--profile] [--top 40]

The hub is built as `hotline-hub serve` builds it (every installed feature, the group commit
on a SQLite file) on a fresh file at synchronous=NORMAL (no fsync: the CPU is what is
measured), and the ASGI application is called directly (no socket, no HTTP parser: uvicorn's
share is the same for the bare stack). `--concurrency` requests are in flight at a time, so
the group commit batches as under wrk. Prints the CPU time (process_time) per case and the
cases per batch; with `--profile`, cProfile of the event loop's thread and of the group
commit's writer, merged, the top functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import asgi_post, print_profiles
from tests.support.factories import draft

KEY = "hub_bench_" + "k" * 32


def _build(data: Path) -> Any:
    os.environ.update(
        {
            "HUB_DATA_DIR": str(data),
            "HUB_DATABASE_URL": f"sqlite:///{data / 'hub.db'}",
            "HUB_SQLITE_SYNCHRONOUS": "NORMAL",
            "HUB_PHONE_INDEX_KEY": "00" * 32,
            "HUB_LOG_LEVEL": "WARNING",
        }
    )
    from hub.api.app import create_app
    from hub.db.migrate import upgrade
    from hub.domain.model import Role
    from hub.logmask import configure_logging
    from hub.runtime import build_hub
    from hub.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    hub = build_hub(settings)
    upgrade(hub.db.writer)
    hub.keys.create("bench", Role.AGENT, hub.clock.now(), key=KEY)
    return hub, create_app(hub)


async def _load(app: Any, body: bytes, cases: int, concurrency: int) -> None:
    left = cases

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, _ = await asgi_post(app, "/api/v1/cases", body, KEY)
            if status != 201:
                raise RuntimeError(f"answered {status}")

    await asyncio.gather(*(client() for _ in range(concurrency)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=40)
    args = p.parse_args()
    body = json.dumps(draft(), ensure_ascii=False).encode()
    with tempfile.TemporaryDirectory() as d:
        hub, app = _build(Path(d))
        try:
            group = hub.db.group
            asyncio.run(_load(app, body, 50, args.concurrency))  # warm-up: imports, caches, compiled statements
            writer_profile = cProfile.Profile(time.thread_time)  # CPU of the thread, not time spent waiting for the GIL
            if args.profile and group is not None:
                commit = group._commit

                def profiled(batch: Any) -> None:
                    writer_profile.enable()
                    try:
                        commit(batch)
                    finally:
                        writer_profile.disable()

                group._commit = profiled  # type: ignore[method-assign]
            loop_profile = cProfile.Profile(time.thread_time)
            batches, units = (group.batches, group.units) if group is not None else (0, 0)
            cpu, wall = time.process_time(), time.perf_counter()
            if args.profile:
                loop_profile.enable()
            asyncio.run(_load(app, body, args.cases, args.concurrency))
            if args.profile:
                loop_profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            hub.close()
    print(f"{args.cases} cases, {args.concurrency} in flight: {cpu / args.cases * 1000:.3f} ms CPU per case, {args.cases / wall:.0f} cases/s in-process")
    if group is not None and group.batches > batches:
        print(f"group commit: {(group.units - units) / (group.batches - batches):.1f} cases per batch")
    if args.profile:
        print_profiles(loop_profile, [writer_profile], args.top)


if __name__ == "__main__":
    main()
