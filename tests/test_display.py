"""How the book shows tables and plots: whole cells, accuracy axes from 0."""
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

from conftest import fake_result  # noqa: E402
from umelib.paper import claims, report  # noqa: E402


_r = fake_result


def _results():
    out = []
    for s, j in enumerate((0.0, 0.4, -0.4)):
        out += [_r("unimodal", s, 60 + j, 70 + j),
                _r("naive", s, 55 + j, 65 + j, 80 + j), _r("missing-detection", s, 62 + j, 69 + j, 82 + j),
                _r("ume-mma", s, 63 + j, 71 + j, 84 + j)]
    return out


def test_claims_table_cells_are_not_cut():
    import pandas as pd

    from umelib.paper.display import OPTIONS, book_display

    with pd.option_context(*[x for kv in OPTIONS.items() for x in kv]):  # the chapter's setup call, undone after
        book_display()
        table = claims.table1(_results())
        html = table._repr_html_()
    longest = max(table["ours"], key=len)
    assert len(longest) > 50  # pandas' default max_colwidth would cut it
    assert longest in html and "..." not in html


def test_accuracy_axes_start_at_zero():
    import matplotlib.pyplot as plt

    ax = report.plot_settings([r for r in _results() if r["method"] != "unimodal"])
    assert ax.get_ylim()[0] == 0  # the values sit between 55 and 85
    plt.close("all")
    sweep = [dict(_r("ume-mma", s, 60 + s, 70, 80), sweep={"drop_p": p}) for s in range(2) for p in (0.0, 0.5)]
    ax = report.plot_sweep(sweep)
    assert ax.get_ylim()[0] == 0
    plt.close("all")


def test_importing_the_experiments_does_not_import_pandas():
    code = "import sys, umelib.paper.chapters; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_importing_umelib_leaves_a_users_pandas_options_alone():
    """A user's pandas settings survive importing every umelib module (the book sets its own in the chapters)."""
    code = """
import importlib, pkgutil
import pandas as pd
pd.set_option("display.max_colwidth", 17)
pd.set_option("display.width", 91)
import umelib
for m in pkgutil.walk_packages(umelib.__path__, "umelib."):
    if m.name != "umelib.__main__":
        importlib.import_module(m.name)
print(pd.get_option("display.max_colwidth"), pd.get_option("display.width"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["17", "91"]
