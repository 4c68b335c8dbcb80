"""Private notes: staff-only remarks inside a conversation, never sent to the customer."""
