"""Monthly giving in one place: the monthly gift (``models``), starting, charging, changing and
cancelling it through the gateway and its webhook events (``services``), and the staff's list
(``views``). Above donations (each month's charge is a gift) and payments (the gateway)."""
