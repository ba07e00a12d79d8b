"""What the repository's scripts share: running uv and git, and one-line errors.

A plain folder beside the scripts (not a workspace package), so that they run with nothing
installed beyond the root dev group.
"""
