"""Operator views over the whole installation (queues, tenants, accounts)."""
