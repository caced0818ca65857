"""Adapter for MY SOAP SYSTEM (template): replace this line with what the system is."""
