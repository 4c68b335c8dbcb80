"""Outbound replies: the transactional outbox (``replies`` writes it, ``outbox`` relays what was missed)."""
