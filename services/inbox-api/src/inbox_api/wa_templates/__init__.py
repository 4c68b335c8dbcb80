"""WhatsApp message templates in the inbox: the list and its sync (JSON), the picker (pages)."""
