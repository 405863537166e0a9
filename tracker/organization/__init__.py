"""The organization's identity (names, address, registration, contact and sender addresses,
logo) and its about, contact and privacy pages: stored in the database, one row of identity.

This package sits low in the layers (below ``mail`` and ``web``) so that every mail and every
page can read the identity (``identity.current_identity``); it imports only ``core`` and the
extensions. Editing happens in the site layer (``tracker.site.organization``), which audits
each change in the same transaction.
"""
