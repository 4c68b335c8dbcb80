"""Conversations: the queue (list, filters, per-user unread), one conversation, its state and assignee."""
