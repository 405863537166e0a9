"""The site: pages that assemble several domains, above the domains they read.

The public home page, a case's page and its live JSON (``cases``), the staff desk's case pages
and dashboard (``cases``), and the audit log (``audit``). Domains never import the site.
"""
