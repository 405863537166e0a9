"""The one home for Stripe: the gateway interface (shaped like Stripe's), the Stripe gateway
(the only module that imports ``stripe``), and the webhook boundary (verify, store once, hand
each event to the handler its domain registered). Knows no domain; the offline sandbox that
stands in for Stripe is ``tracker.sandbox``."""
