"""Database layer: catalog and tenant models, migrations, and the per-tenant engine registry."""
