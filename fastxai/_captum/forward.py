"""Calling the model the Captum way: implemented in :mod:`fastxai.engine.forward`; these names
stay importable from here."""
from fastxai.engine.forward import call_forward, run_forward  # noqa: F401
