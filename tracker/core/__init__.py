"""What every domain needs: money (``money``), time and fiscal years (``time``), errors,
access rules, validation of what people type, labels for stored codes, languages, database
setup and locks, and the one way to end a transaction (``transactions``). Imports nothing
else of ours."""
