"""Outgoing email: the outbox (queued in the transaction that causes a message, delivered after
the commit, with retries), sending one message (``send``) and ``flask outbox`` (``cli``)."""
