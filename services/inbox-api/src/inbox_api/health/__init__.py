"""Channel health: per connected account, its status, traffic and recent failures in plain words."""
