"""Payment gateways (Stripe and the offline sandbox) and the events they send."""
