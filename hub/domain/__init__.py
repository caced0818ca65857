"""The domain: cases, their lifecycle, deadlines and events.

Nothing in this package imports FastAPI, SQLAlchemy, zeep or any adapter; it is plain
Python plus pydantic models, so the rules can be read and tested without I/O.
"""
