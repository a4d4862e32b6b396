"""The Captum-compatibility edge: argument normalisation, target selection, base classes.

Everything that exists only to honour Captum 0.9's calling conventions lives here, so the
engine itself sees plain tuples of tensors and an already-normalised target.
"""
