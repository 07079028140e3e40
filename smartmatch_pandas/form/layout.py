"""The form's layout: the columns beside the options, the preview, then Match and the job."""

from __future__ import annotations

from typing import Any

from .aria import group_names
from .html import STYLE, heading


def form_layout(
    w: Any, title: str, columns: list[Any], options: list[Any], preview: Any, run: list[Any]
) -> Any:
    """The form's root widget: ``columns`` and ``options`` side by side (wrapping on a
    narrow page), ``preview`` under them, and ``run`` (the button and what the job shows)
    at the foot."""

    def section(**extra: str) -> Any:
        return w.Layout(border="1px solid #dcdcdc", padding="8px 14px", margin="4px 0", **extra)

    root = w.VBox(
        [
            w.HTML(STYLE + title),
            w.HBox(
                [
                    w.VBox(
                        [w.HTML(heading("Columns")), *columns],
                        layout=w.Layout(flex="1 1 480px", margin="0 28px 0 0"),
                    ),
                    w.VBox(
                        [w.HTML(heading("Options")), *options],
                        layout=w.Layout(flex="0 0 420px"),
                    ),
                ],
                layout=section(flex_flow="row wrap", align_items="flex-start"),
            ),
            w.VBox(
                [w.HTML(heading("Preview: the first rows as they will be uploaded")), preview],
                layout=section(),
            ),
            w.VBox(run, layout=w.Layout(padding="6px 0")),
        ],
        layout=w.Layout(max_width="1200px"),
    )
    root.add_class("smartmatch-form")
    names = group_names()
    if names is not None:
        root.children = (*root.children, names)
    return root
