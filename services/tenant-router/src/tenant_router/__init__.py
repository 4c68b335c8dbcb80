"""tenant-router: resolves each entry of a delivery to exactly one tenant, or dead-letters it."""
