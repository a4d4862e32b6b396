"""The built-in demo: a tiny CNN trained in seconds on synthetic "lesion" images."""
