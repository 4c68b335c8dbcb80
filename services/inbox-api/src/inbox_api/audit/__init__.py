"""The audit trail for owners: who did what, newest first (read-only; the table is append-only)."""
