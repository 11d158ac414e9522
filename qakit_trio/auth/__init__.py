"""Identities on the stand (QAKIT_AUTH=on): who a request comes from (users.py), the tokens
that say so (tokens.py), and how often each may ask (limits.py). Pure logic: the routes and the
pipeline's stages that use it are in web/ and sessions/."""
