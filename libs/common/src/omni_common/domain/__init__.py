"""Rules of the product that more than one service applies: one home each, free of I/O.

- ``channels``      the three channels and the names owners read
- ``reply_window``  when a free-form reply is allowed (one comparison for inbox, sender and page)
- ``accounts``      whether a connected account may receive and send, and what owners are told
- ``reauth``        what flagging an account "needs re-authorisation" says and announces
- ``ownership``     whether a token proves its holder owns the account it connects (debug_token)

Services import from here; nothing here imports a web framework, a broker client or a database.
"""
