"""How the inbox shows times: the restaurant's time zone and the day labels (Today, Yesterday, ...)."""
