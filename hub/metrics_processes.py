"""/metrics when `serve` runs several API processes on one port (`serve --workers N`).

A scrape reaches one of the processes, whichever the kernel hands the connection to. Counted
in memory, the HTTP and delivery counters would be that one process's, and Prometheus would
see a counter jump back each time the next scrape reached the other one. So `serve` puts
prometheus_client in its multiprocess mode before it forks (`use_processes`): each process
keeps its counters and histograms in files of its own in one directory, and the registry
/metrics serves (`new_registry`) sums them over every process, the ones that ended too. The
collectors that read the database at scrape time (cases by state, leases, the backlog) report
the shared truth from any process and are collected as they are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, values
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# prometheus_client's own variable: the directory of the processes' metric files.
DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def use_processes(directory: str) -> None:
    """From now on in this process and those it forks, counters and histograms are kept in
    `directory` (which must exist and be empty). Called before any of them is made."""
    os.environ[DIRECTORY_VARIABLE] = directory
    # prometheus_client picks its value store from the variable when first imported; it was
    # imported before serve knew how many processes it would run.
    values.ValueClass = values.get_value_class()


class ProcessesRegistry(CollectorRegistry):
    """The registry of an API process of several: its counters and histograms are registered
    here as anywhere (so nothing else changes), but collected summed over all processes."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self._summed = MultiProcessCollector(None, directory)  # registered nowhere: collected below

    def collect(self) -> Iterator:
        with self._lock:
            collectors: list[Collector] = list(self._collector_to_names)
        for collector in collectors:
            if not isinstance(collector, MetricWrapperBase):  # the database collectors
                yield from collector.collect()
        yield from self._summed.collect()


def new_registry() -> CollectorRegistry:
    """The registry a hub's /metrics serves: summed over the processes when `serve` runs
    several (use_processes), else this process's own."""
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if directory and getattr(values.ValueClass, "_multiprocess", False):
        return ProcessesRegistry(directory)
    return CollectorRegistry()
