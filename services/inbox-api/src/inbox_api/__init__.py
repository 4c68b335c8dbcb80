"""inbox-api: the web inbox and its JSON API."""
