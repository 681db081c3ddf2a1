"""The Markdown view, read back: its model, line syntax, parser, ``view_of`` and diff.

Import the public names from ``wtd.tracker.markdown``; these modules are its parts.
"""
