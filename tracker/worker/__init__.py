"""``flask --app tracker worker``: the long-running process that sends queued mail and runs
the periodic jobs (``jobs``: reconcile, ending abandoned checkouts, pruning old sign-ins).

Any number of workers may run on any number of machines: each message is claimed before it
is sent (``tracker.mail.outbox.deliver_pending``) and each run of a job is leased in the
database (``tracker.core.jobruns``). Nothing imports this package except the app factory,
which registers the command.
"""
