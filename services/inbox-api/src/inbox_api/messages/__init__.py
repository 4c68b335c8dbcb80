"""Messages of a conversation: the history, replies, staff reactions and stored media."""
