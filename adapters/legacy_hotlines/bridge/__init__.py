"""The live bridge to a 双号并行 line: adapter, wires (REST, SOAP), poller, refusals (docs/legacy.md)."""
