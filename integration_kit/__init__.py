"""The conformance kit: an integrator runs it against their own adapter (installed through
its entry point) and a peer they point it at. See docs/integrator-guide.md.

    from integration_kit import HttpPeerControl, run_kit
    report = run_kit("my_system", {"url": "http://127.0.0.1:9100/api"}, HttpPeerControl("http://127.0.0.1:9100"))
    assert report.complete, report.render()

CLI: hotline-hub kit check --adapter NAME --settings FILE.yaml --peer URL
"""

from integration_kit.peer import (
    HttpPeerControl,
    PeerControl,
    PeerControlError,
    Received,
    UnsupportedFault,
)
from integration_kit.report import CheckResult, KitReport
from integration_kit.runner import load_settings_file, run_kit
from integration_kit.tables import KINDS, MappingTable, check_table, hub_codes, load_tables

__all__ = [
    "CheckResult",
    "HttpPeerControl",
    "KINDS",
    "KitReport",
    "MappingTable",
    "PeerControl",
    "PeerControlError",
    "Received",
    "UnsupportedFault",
    "check_table",
    "hub_codes",
    "load_settings_file",
    "load_tables",
    "run_kit",
]
