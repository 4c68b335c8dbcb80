"""The customer beside the chat: who they are across channels, and linking contacts as one person."""
