"""A donor's own page: sign in by an emailed link, see every gift, download the receipts."""
