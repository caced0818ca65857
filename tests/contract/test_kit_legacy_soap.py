"""The legacy bridge on its SOAP transport (line 12320, lines.yaml bridge.transport: soap)
through the conformance kit, against the sandbox SOAP line driven over its /_kit endpoints.
(The REST transport's kit run is tests/contract/test_kit_inventory.py::test_legacy_bridge.)"""

from __future__ import annotations

from adapters.legacy_hotlines.sandbox_soap import SoapLineState, create_app
from integration_kit import HttpPeerControl, run_kit
from tests.support.live import LiveServer


def test_legacy_bridge_over_soap_passes_the_kit() -> None:
    state = SoapLineState(line="12320")
    with LiveServer(create_app(state)) as live:
        peer = HttpPeerControl(live.url)
        try:
            # The kit's sample case is a 城乡建设 case; widen the line's domain so it goes over (as 其他).
            # accepted sends it over (SubmitCase); dispatched and replied follow as PushStatus.
            report = run_kit(
                "legacy_bridge",
                {"line": "12320", "base_url": f"{live.url}/soap", "timeout": 3.0, "categories": ["0"]},
                peer,
                events=["case.accepted", "case.dispatched", "case.replied"],
            )
        finally:
            peer.close()
    assert report.complete, report.render(verbose=True)
    rendered = report.render(verbose=True)
    assert "fault '429'" in rendered and "fault 'garbage'" in rendered  # the optional modes ran too
    assert [c for c in state.calls if c == "PushStatus"]  # the series pushed status changes
