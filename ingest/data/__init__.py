"""Bundled data files (see NOTICE): loaded with importlib.resources."""
