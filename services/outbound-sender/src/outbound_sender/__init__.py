"""outbound-sender service."""
