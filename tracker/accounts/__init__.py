"""Staff, director and admin accounts: sign-in, roles and sessions."""
