"""fastxai.report.tables: gap / ratio / worst group leave out groups too small to measure."""
import numpy as np

from fastxai.report.tables import _gap_cells, fmt_ci


def test_gap_ratio_worst_skip_small_groups():
    vals = {"A": (0.5, 0.4, 0.6, 30), "B": (0.8, 0.7, 0.9, 40), "80+": (0.0, np.nan, np.nan, 1)}
    assert _gap_cells(vals, hib=True) == ["0.80", "0.00", "80+"]  # without a minimum: one image decides
    assert _gap_cells(vals, hib=True, min_n=10) == ["0.30", "0.62", "A"]
    assert _gap_cells(vals, hib=False, min_n=10)[2] == "B"
    assert _gap_cells({"A": (0.5, 0.4, 0.6, 30), "80+": (0.0, np.nan, np.nan, 1)}, True, 10) == ["n/a"] * 3


def test_fmt_ci():
    assert fmt_ci(0.5, 0.4, 0.6) == "0.50 [0.40, 0.60]"
    assert fmt_ci(0.5, np.nan, np.nan) == "0.50" and fmt_ci(np.nan, 0, 1) == "n/a"
