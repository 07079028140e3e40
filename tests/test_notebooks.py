"""The notebooks in ``notebooks/``: committed without outputs, and each runs top to bottom.

Each is executed by a real Jupyter kernel (nbclient), against the local
service the notebook starts itself, in a job store of the test's own.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
#: Seconds a cell may take: the first cell builds the voter file when no cache has it.
CELL_TIMEOUT = 240
#: Run after a notebook's last cell: what a reader does next still works.
STILL_USABLE = """
import pandas as _pd
import smartmatch_pandas as _sm

if "form" in globals():
    form.match_button.click()
    assert form.wait(120) is not None, form.error
_list = _pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
assert len(_sm.match(_list, progress=False, cache=False)) == 1
"""


def test_there_are_the_notebooks() -> None:
    names = [path.stem for path in NOTEBOOKS]
    assert names == [
        "01-quickstart",
        "02-the-form",
        "03-max-matches",
        "04-preparing-a-messy-list",
        "05-exploring-a-matched-list",
        "06-lists-beyond-pandas",
        "07-dask",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {number} of {path.name} has outputs: clear them"
            assert cell.execution_count is None, f"cell {number} of {path.name} was run"
    assert "widgets" not in notebook.metadata, f"{path.name} holds saved widget state"


@pytest.mark.slow  # a kernel per notebook, a few seconds each
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
@pytest.mark.subprocess
def test_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    # As Run All does: every cell, the clean-up one included; then, as a reader would
    # go on, the notebook must still be usable (its form matches, its service answers).
    notebook.cells.append(nbformat.v4.new_code_cell(STILL_USABLE))
    notebook.cells.append(nbformat.v4.new_code_cell("service.stop()"))
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error"
            assert "Traceback" not in str(output.get("text", ""))
