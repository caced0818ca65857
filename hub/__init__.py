"""The 12345 hub: canonical cases, the case engine, and the ports every adapter plugs into."""

__version__ = "0.1.0"
