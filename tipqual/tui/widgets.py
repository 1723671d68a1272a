"""The workbench's own widgets: the transcript (a line-drawn scroll view) and the codebook tree.

:class:`TranscriptView` draws the lines of :func:`tipqual.tui.layout.layout` and reports mouse
presses and drags as :class:`TranscriptView.Pointer` messages carrying the segment and the
character under the pointer (the app turns a drag into a span selection). It has no key
bindings of its own: every key is the app's. :class:`CodebookTree` is the codebook as a Textual
``Tree``; :func:`code_details` is a code's definition and criteria, shown on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Tree

from tipqual.tui.layout import (
    GUTTER,
    BlockCache,
    Line,
    View,
    block_range,
    layout,
    offset_at,
    printable,
)

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.codebook.model import Code, Codebook


class TranscriptView(ScrollView, can_focus=True, inherit_bindings=False):
    """The segments of one source, drawn line by line, scrolled to keep the cursor in view."""

    ALLOW_SELECT = False  # the workbench selects words itself (span coding)
    DEFAULT_CSS = """
    TranscriptView {
        overflow-y: scroll;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    class Pointer(Message):
        """The mouse pressed (``down``), dragged (``drag``) or let go (``up``) on a segment."""

        def __init__(self, kind: str, segment: int, offset: int | None) -> None:
            super().__init__()
            self.kind, self.segment, self.offset = kind, segment, offset

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view: View | None = None
        self.lines: list[Line] = []
        self._width = 0
        self._dragging = False
        self._cache: BlockCache = {}

    def show(self, view: View, *, follow: bool = True) -> None:
        """Draw ``view``; with ``follow``, scroll the current segment into sight."""
        self.view = view
        self._relayout()
        if follow:
            self.scroll_to_current()

    def _text_width(self) -> int:
        return max(self.scrollable_content_region.width, 0)

    def _relayout(self) -> None:
        width = self._text_width()
        if self.view is None or width <= 0:
            return
        self._width = width
        self.lines = layout(self.view, width, self._cache)
        self.virtual_size = Size(width, len(self.lines))
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        """Lay the lines out again for the new width."""
        self._relayout()
        self.scroll_to_current()

    def scroll_to_current(self) -> None:
        """Scroll so that the current segment is in sight (its top, when it is taller)."""
        if self.view is None or self.view.current is None:
            return
        top, bottom = block_range(self.lines, self.view.current)
        height = self.scrollable_content_region.height
        y = round(self.scroll_offset.y)
        if height <= 0:
            return
        if top >= y and bottom < y + height:
            return  # in sight already
        # out of sight: a little of what comes before it above it, when it all fits
        target = top - min(height // 4, max(height - (bottom - top + 1), 0))
        self.scroll_to(y=target, animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        """One line of the transcript, as the screen shows it."""
        width = self._width or self.size.width
        number = round(self.scroll_offset.y) + y
        if number >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        text = self.lines[number].full()
        text.stylize_before(self.rich_style)
        strip = Strip(list(text.render(self.app.console)), text.cell_len)
        return strip.crop_extend(0, width, self.rich_style)

    def _hit(self, event: events.MouseEvent) -> tuple[int, int | None] | None:
        """The segment (and character of its text) under the pointer."""
        number = round(self.scroll_offset.y) + event.y
        if not 0 <= number < len(self.lines) or self.view is None:
            return None
        line = self.lines[number]
        if line.segment is None:
            return None
        if line.chars is None:
            return line.segment, None
        text = self.view.states[line.segment].segment.text
        return line.segment, offset_at(text, line.chars, max(event.x - GUTTER, 0))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        """Start a selection (or just move the cursor) where the mouse is pressed."""
        hit = self._hit(event)
        if hit is not None:
            self._dragging = True
            self.capture_mouse()
            self.post_message(self.Pointer("down", *hit))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        """Extend the selection while the mouse is dragged."""
        if self._dragging:  # the mouse is captured from the press to the release
            hit = self._hit(event)
            if hit is not None and hit[1] is not None:
                self.post_message(self.Pointer("drag", *hit))

    def on_mouse_up(self, event: events.MouseUp) -> None:
        """End the selection."""
        if self._dragging:
            self._dragging = False
            self.capture_mouse(False)
            hit = self._hit(event)
            if hit is not None:
                self.post_message(self.Pointer("up", *hit))


class CodebookTree(Tree[str]):
    """The codebook as a tree (codes under their parents), each node's data its code id."""

    DEFAULT_CSS = """
    CodebookTree { scrollbar-size-vertical: 1; overflow-x: hidden; }
    """

    def __init__(self, codebook: Codebook, **kwargs: Any) -> None:
        super().__init__(f"{codebook.name} v{codebook.version}", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self.codebook = codebook
        self.nodes_by_code: dict[str, Any] = {}
        known = {c.id for c in codebook.codes}
        self._add(self.root, [c for c in codebook.codes if c.parent is None
                              or c.parent not in known])

    def _add(self, parent: Any, codes: list[Code]) -> None:
        for code in codes:
            label = Text(code.id, style="" if code.codable else "italic")
            label.append(f"  {printable(code.name)}", style="dim")
            children = self.codebook.children(code.id)
            if children:
                node = parent.add(label, data=code.id, expand=True)
                self.nodes_by_code[code.id] = node
                self._add(node, children)
            else:
                self.nodes_by_code[code.id] = parent.add_leaf(label, data=code.id)

    def highlighted_code(self) -> str | None:
        """The code under the tree's cursor."""
        node = self.cursor_node
        return None if node is None else node.data

    def show_code(self, code_id: str) -> None:
        """Move the tree's cursor to a code."""
        node = self.nodes_by_code.get(code_id)
        if node is not None:
            self.move_cursor(node)


def code_details(code: Code) -> Text:
    """A code's name, definition, include and exclude criteria, for the details panel."""
    text = Text()
    text.append(f"{code.id}", style="bold")
    text.append(f" — {printable(code.name)}\n")
    if code.definition:
        text.append(" ".join(code.definition.split()) + "\n")
    for label, values in (("include", code.include), ("exclude", code.exclude)):
        for value in values:
            text.append(f"{label}: ", style="green" if label == "include" else "red")
            text.append(" ".join(value.split()) + "\n")
    if not code.codable:
        text.append("(a heading: it groups codes and is not applied itself)\n", style="dim")
    return text
