"""`hotline-hub sandbox`: the hub on SQLite with sandbox peers and demo traffic. Adds nothing
to a running hub; the peers come from the features that offer them (`sandbox_peers`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.features import FeatureBase, HubOpener
from hub.settings import Settings
from sandbox.run import run_sandbox


def cmd_sandbox(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else Settings().data_dir / "sandbox"
    return run_sandbox(port=args.port, data_dir=data_dir, demo_interval=args.demo_interval)


class _Feature(FeatureBase):
    name = "sandbox"
    order = 90

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:  # noqa: ANN001
        sb = sub.add_parser("sandbox", help="run the hub on SQLite with sandbox peers and demo traffic")
        sb.add_argument("--port", type=int, default=8000)
        sb.add_argument("--data-dir", help="where the sandbox keeps its database (default: <HUB_DATA_DIR>/sandbox, ./var/sandbox)")
        sb.add_argument("--demo-interval", type=float, default=4.0, help="seconds between demo steps")
        sb.set_defaults(func=cmd_sandbox)


feature = _Feature()
