"""ai-suggester service."""
