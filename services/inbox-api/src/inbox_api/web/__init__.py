"""What every page shares: the templates, the page frame (user, CSRF, banner), the one form path."""
