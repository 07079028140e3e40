"""Names for the form's groups of controls, for screen readers.

ipywidgets draws a group of radio buttons, or the checkboxes under one label, as
plain boxes: each control has its own name ("csv", "email"), but nothing says that
they are the format, or what is appended. ipywidgets sets no ARIA attributes, so a
small script does, through anywidget (the ``form`` extra): each radio group gets
``role="radiogroup"`` and each checkbox group ``role="group"``, named by the label
shown beside it (``aria-labelledby``), again whenever the form is redrawn.
Without anywidget the form works the same, its groups unnamed.
"""

from __future__ import annotations

import functools
from typing import Any, Final

#: The class of a box that groups controls under one label, and of that label (the
#: script below names them so).
GROUP: Final = "sm-group"
GROUP_LABEL: Final = "sm-group-label"

_SCRIPT: Final = """
let made = 0;
const labelId = (label) => label.id || (label.id = `sm-group-${Date.now()}-${made++}`);
function nameGroups(root) {
  for (const radio of root.querySelectorAll('.widget-radio')) {
    const box = radio.querySelector('.widget-radio-box');
    const label = radio.querySelector(':scope > .widget-label');
    if (!box || !label) continue;
    box.setAttribute('role', 'radiogroup');
    box.setAttribute('aria-labelledby', labelId(label));
  }
  for (const group of root.querySelectorAll('.sm-group')) {
    const label = group.querySelector('.sm-group-label');
    if (!label) continue;
    group.setAttribute('role', 'group');
    group.setAttribute('aria-labelledby', labelId(label));
  }
}
export default {
  render({ el }) {
    let observer = null;
    let frame = 0;
    const attach = () => {
      const root = el.closest('.smartmatch-form');
      if (!root) { frame = requestAnimationFrame(attach); return; }
      nameGroups(root);
      // Widgets redraw their parts (a radio group its buttons): name them again.
      observer = new MutationObserver(() => nameGroups(root));
      observer.observe(root, { childList: true, subtree: true });
    };
    frame = requestAnimationFrame(attach);
    return () => { cancelAnimationFrame(frame); if (observer) observer.disconnect(); };
  },
};
"""


def group_names() -> Any | None:
    """The invisible widget that names the form's groups, or None without anywidget."""
    kind = _group_names_class()
    if kind is None:
        return None
    widget = kind()
    widget.layout.display = "none"
    return widget


@functools.cache
def _group_names_class() -> type | None:
    """The widget's class, made once (anywidget is loaded only when a form is made)."""
    try:
        import anywidget
    except ImportError:
        return None

    class GroupNames(anywidget.AnyWidget):
        _esm = _SCRIPT

    return GroupNames
