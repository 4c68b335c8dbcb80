"""The ``omni`` command line."""
