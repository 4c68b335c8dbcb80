"""Tenancy operations: provisioning, migrations across tenant DBs, users and key rotation."""
