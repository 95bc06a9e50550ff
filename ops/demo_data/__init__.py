"""Data the demo scenario ships with (see NOTICE)."""
