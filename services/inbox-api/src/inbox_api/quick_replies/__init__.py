"""Quick replies: saved answers per tenant (a short code and a text), inserted by typing ``/``."""
