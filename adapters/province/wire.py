"""What both wire clients (SOAP and REST) offer the adapter, and how they judge an error.

Requests and answers are plain dicts named exactly as the WSDL's elements (RequestId,
WorkOrder, ...), so the mapping is written once for both transports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from hub.integration.contract import AdapterError, PermanentError, TransientError

Wire = dict[str, Any]

# Element names whose text is personal data: masked before any envelope is logged.
PERSONAL_ELEMENTS = frozenset({"AppealerName", "AppealerPhone", "Address"})


class ProvinceWire(Protocol):
    def report_case(self, request: Wire) -> Wire: ...

    def push_status(self, request: Wire) -> Wire: ...

    def fetch_assigned(self, request: Wire) -> Wire: ...

    def ack_assigned(self, request: Wire) -> Wire: ...

    def query_case(self, request: Wire) -> Wire: ...

    def close(self) -> None: ...


class ProvinceFault:
    """Mixin naming the province's fault code on the error the adapter raises."""

    code: str | None = None


class ProvinceTransientError(TransientError, ProvinceFault):
    def __init__(self, message: str, *, code: str | None = None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.code = code


class ProvincePermanentError(PermanentError, ProvinceFault):
    def __init__(self, message: str, *, code: str | None = None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.code = code


@dataclass(frozen=True)
class FaultPolicy:
    """Which province fault codes are worth retrying (mappings/province/faults.yaml)."""

    transient: frozenset[str]
    permanent: frozenset[str]

    def error(self, code: str | None, message: str, *, server_side: bool) -> AdapterError:
        """The contract's error for a fault; `server_side` decides codes the file does not list."""
        text = f"province fault {code or '(no code)'}: {message}"
        if code in self.transient:
            return ProvinceTransientError(text, code=code)
        if code in self.permanent:
            return ProvincePermanentError(text, code=code)
        return ProvinceTransientError(text, code=code) if server_side else ProvincePermanentError(text, code=code)

    def check_result(self, answer: Wire) -> Wire:
        """Some provinces answer HTTP 200 with a non-zero ResultCode instead of a fault."""
        # zeep answers a response whose only element is its Result with the Result itself.
        result = (answer if "ResultCode" in answer else answer.get("Result")) if isinstance(answer, dict) else None
        if not isinstance(result, dict):
            # Strict out: every answer carries its Result. Without it the hub cannot tell what
            # the province did, and it may have applied the call: again with the same key.
            raise ProvinceTransientError("unreadable answer: no Result")
        code = str(result.get("ResultCode", "0"))
        if code != "0":
            # A failure reported in-band is the province's judgement, not a crash: retry
            # only what faults.yaml calls transient.
            raise self.error(code, str(result.get("ResultMessage") or ""), server_side=False)
        return answer
