"""Appeal posts, updates, rescue reports and news."""
