"""Live updates: telling every open inbox of a tenant what changed, and the browsers' event stream."""
