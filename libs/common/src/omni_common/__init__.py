"""Shared library of Resevit Inbox: contracts, broker plumbing, tenancy, crypto, channel adapters."""
