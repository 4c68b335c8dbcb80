"""AI suggestions: the assistant's settings and knowledge, asking for a draft, and its review log."""
