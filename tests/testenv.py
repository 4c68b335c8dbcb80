"""Constants shared by the test modules (kept out of conftest.py: several conftest modules exist)."""

APP_SECRET = "test-app-secret-0123456789abcdef"
VERIFY_TOKEN = "test-verify-token"
