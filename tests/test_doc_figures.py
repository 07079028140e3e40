"""Every block of benchmark figures in the docs opens with the command that printed it, and
the small benchmarks still print what their block shows (every number aside).

The blocks and their benchmarks are :data:`tests.doc_tables.FIGURES`;
``python -m tests.doc_tables --figures`` writes them again.
"""

from __future__ import annotations

import pytest

from .doc_tables import FIGURES, Figures, section, shape


@pytest.mark.parametrize("figures", FIGURES, ids=[f.name for f in FIGURES])
def test_figures_open_with_their_command(figures: Figures) -> None:
    block = section(figures.section, doc=figures.doc)
    assert block.startswith(f"```text\n{figures.command_line}\n"), (
        f"the {figures.section} block of {figures.doc.name} must open with the command that "
        f"printed it: run `python -m tests.doc_tables --figures {figures.name}`"
    )
    assert block.endswith("\n```")


def test_a_changed_output_changes_the_shape() -> None:
    assert shape("wall time 5.84 s: 8.6 jobs/s, 1,712 rows/s") == shape(
        "wall time 22.33 s: 2.2 jobs/s, 448 rows/s"
    )
    assert shape("ratio 3.02") != shape("factor 3.02")


@pytest.mark.network
@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize(
    "figures", [f for f in FIGURES if f.small], ids=[f.name for f in FIGURES if f.small]
)
def test_small_figures_are_current(figures: Figures) -> None:
    printed = figures.block(figures.run())
    assert shape(printed) == shape(section(figures.section, doc=figures.doc)), (
        f"{figures.command_line[2:]} no longer prints what {figures.doc.name} shows: run "
        f"`python -m tests.doc_tables --figures {figures.name}`"
    )
