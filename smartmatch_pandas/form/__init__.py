"""The match form: ``df.smartmatch.form()`` in a notebook (needs ipywidgets)."""

from .html import summary_html
from .widget import MatchForm

__all__ = ["MatchForm", "summary_html"]
