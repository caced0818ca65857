"""The example adapter packages under examples/, as this checkout has them.

The Makefile installs them editable, so an installed copy points at whichever checkout ran
the install: a test run from another checkout (a worktree, a CI copy sharing a virtual
environment) would otherwise test that other checkout's example and find it in the wrong
place. The entry point (the installed metadata) is the same in every checkout; the code it
names is imported from the package beside the tests that run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hub.features import load_features
from hub.integration.registry import discover

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def use_this_checkouts(package_dir: Path, module: str) -> None:
    """Make `import <module>` (and the entry point naming it) load it from `package_dir`."""
    loaded = sys.modules.get(module)
    if loaded is not None and Path(loaded.__file__ or "").resolve().is_relative_to(package_dir):
        return
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        del sys.modules[name]  # imported from another checkout: import it again from this one
    if str(package_dir) not in sys.path:
        # Ahead of the installed editable finder, which only answers what the path does not.
        sys.path.insert(0, str(package_dir))


def installed_adapter(package: str, name: str) -> Any:
    """The adapter class `name`, found through its entry point, from examples/<package> of this
    checkout."""
    use_this_checkouts(EXAMPLES / package, package)
    return _installed(package, "adapter", name, discover())


def installed_feature(package: str, name: str) -> Any:
    """The feature `name`, found through its entry point, from examples/<package> of this checkout."""
    use_this_checkouts(EXAMPLES / package, package)
    return _installed(package, "feature", name, {f.name: f for f in load_features()})


def _installed(package: str, kind: str, name: str, found: dict[str, Any]) -> Any:
    if name not in found:  # no skip: CI must install it, and say how when it did not
        pytest.fail(
            f"{kind} {name!r} is not installed (found: {sorted(found)}); run `.venv/bin/pip install -e examples/{package}` (the Makefile's install step does)"
        )
    return found[name]
