"""Payment gateways (the interface, Stripe, and a registry for others such as the sandbox)
and the events they send."""
