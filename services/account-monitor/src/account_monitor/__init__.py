"""account-monitor: checks every active account's token with Meta and warns owners before expiry."""
