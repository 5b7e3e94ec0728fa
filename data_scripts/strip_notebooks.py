"""Strip outputs and execution counts from notebooks in place: python data_scripts/strip_notebooks.py book/*.ipynb"""
import sys

import nbformat

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
        c.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print(f"stripped {path}")
