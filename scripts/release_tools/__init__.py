"""Shared helpers of `scripts/release.py` and `scripts/check_packages.py`.

They live in a plain folder beside the scripts (not in a workspace package) so that both scripts
run with nothing installed beyond the root dev group: `packaging` comes with pytest.
"""
