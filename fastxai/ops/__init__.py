"""Kernel-backed ops: one op per file, each with a public function, a ``reference_<op>``
in plain torch, and backend dispatch through :mod:`fastxai.backends`."""
