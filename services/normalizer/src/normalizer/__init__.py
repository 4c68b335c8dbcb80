"""normalizer: turns routed platform events into chats and messages in the tenant database."""
