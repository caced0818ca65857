"""The operator console (操作台): server-rendered pages for the people of the 12345 centre and
the handling units, over the hub's own services and access rules (issue #18)."""
