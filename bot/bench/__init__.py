"""`rollcall bench`: accuracy and speed measurements (development tools, not product code)."""
