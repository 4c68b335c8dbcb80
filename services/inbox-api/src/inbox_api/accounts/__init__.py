"""Connected social accounts (the CLI's operations over HTTP) and the tenant's notifications."""
