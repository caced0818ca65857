"""The bulk import of a legacy line's export and the duplicate search over it (docs/legacy.md)."""
