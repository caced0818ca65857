"""Everything the hub sends out leaves through here (docs/outbox.md).

`enqueue(session, *, destination, ordering_key, event_type, payload, case=None)` queues a
message inside the caller's transaction; the relay (`outbox.relay.Relay`) delivers it.
"""

from outbox.store import enqueue

__all__ = ["enqueue"]
