"""fnpool: a KRM function runner for Porch."""
