"""An integrator's feature for the 12345 hub (examples/, installed by the Makefile)."""
