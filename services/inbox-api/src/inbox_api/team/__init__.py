"""The restaurant's team: members, their roles, and the sessions that let them in."""
