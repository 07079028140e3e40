"""The match form: ``df.smartmatch.form()`` in a notebook (needs ipywidgets)."""

from .widget import MatchForm, summary_html

__all__ = ["MatchForm", "summary_html"]
