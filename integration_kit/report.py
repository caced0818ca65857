"""What the kit found: one result per check, each problem saying where (file:line, field, scenario)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["passed", "failed", "not run"]


@dataclass
class CheckResult:
    """One check (e.g. 'contract', 'settings', 'mappings', 'scenario: transient failure')."""

    name: str
    status: Status = "passed"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was exercised, for the reader of the report
    # Not failures, but never hidden: an adapter's "not sent", a transient failure retried, a
    # settings address that is not the peer's. Printed with or without -v.
    warnings: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.status = "failed"
        self.problems.append(problem)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class KitReport:
    adapter: str
    checks: list[CheckResult] = field(default_factory=list)

    def check(self, name: str) -> CheckResult:
        result = CheckResult(name)
        self.checks.append(result)
        return result

    def skip(self, name: str, why: str) -> CheckResult:
        result = CheckResult(name, status="not run", notes=[why])
        self.checks.append(result)
        return result

    @property
    def ok(self) -> bool:
        """Every check that ran passed. A report where nothing ran is not ok."""
        return all(c.ok for c in self.checks) and any(c.status == "passed" for c in self.checks)

    @property
    def complete(self) -> bool:
        """ok, and no check was left out (e.g. scenarios without a peer)."""
        return self.ok and all(c.status == "passed" for c in self.checks)

    @property
    def problems(self) -> list[str]:
        """Every problem, prefixed by its check: what a test asserts on."""
        return [f"{c.name}: {p}" for c in self.checks for p in c.problems]

    def get(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    def render(self, verbose: bool = False) -> str:
        marks = {"passed": "PASS", "failed": "FAIL", "not run": "SKIP"}
        lines = [f"conformance kit: adapter {self.adapter!r}"]
        for c in self.checks:
            lines.append(f"  [{marks[c.status]}] {c.name}")
            lines.extend(f"         - {p}" for p in c.problems)
            lines.extend(f"         ! {w}" for w in c.warnings)
            if verbose or c.status == "not run":
                lines.extend(f"           {n}" for n in c.notes)
        skipped = [c.name for c in self.checks if c.status == "not run"]
        verdict = "conforms" if self.complete else f"passes what ran; not run: {', '.join(skipped)}" if self.ok else "does NOT conform"
        lines.append(
            f"  => {verdict} ({sum(c.status == 'failed' for c in self.checks)} failed, "
            f"{sum(c.status == 'passed' for c in self.checks)} passed, "
            f"{sum(c.status == 'not run' for c in self.checks)} not run)"
        )
        return "\n".join(lines)
