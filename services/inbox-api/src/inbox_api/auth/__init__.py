"""Who is calling: sign-in, signed session tokens, the caller's principal, and the login pages."""
