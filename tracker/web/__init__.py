"""Request plumbing every page shares: security headers, the public page cache, template
filters, the health check and error pages, and the 503 page for an unreachable database."""
