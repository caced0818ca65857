"""Records: backups and restores of the hub's database, the retention of personal data,
subject-access exports (docs/operations.md)."""
