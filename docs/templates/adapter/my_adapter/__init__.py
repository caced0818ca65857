"""Adapter for MY SYSTEM (template): replace this line with what the system is."""
