"""Everything a donor does or asks for: their own page (sign in by an emailed link, every
gift, receipts and PDFs), the staff's donor pages, their data export and anonymizing them
(which first cancels their monthly gifts at the gateway). The donor row itself is part of the
gifts' schema (``tracker.donations.models.Donor``), which every gift points at."""
