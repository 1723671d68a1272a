"""The workbench's pop-up screens: code picker, choices, memo, search, filters and the keys.

Each is a Textual ``ModalScreen`` that returns its answer when it closes (``None``: cancelled
with Escape). None of them touches the study: the app does, with what they return.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tipqual.tui.layout import printable
from tipqual.tui.session import Filters

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.codebook.model import Code
    from tipqual.coding.search import Hit



# The pop-ups' looks (in the app's style sheet: a screen's own is scoped to it)
MODAL_CSS = """
ModalScreen { align: center middle; }
ModalScreen > Vertical {
    width: 90%;
    max-width: 100;
    height: auto;
    max-height: 90%;
    border: round $accent;
    background: $surface;
    padding: 0 1;
}
ModalScreen .title { text-style: bold; }
ModalScreen .hint { color: $text-muted; }
ModalScreen OptionList { height: auto; max-height: 12; border: none; padding: 0; }
ModalScreen Input { border: tall $accent; padding: 0 1; height: 3; }
ModalScreen #about { height: auto; max-height: 4; color: $text-muted; }
ModalScreen #keys { height: auto; max-height: 18; }
"""


class _Modal(ModalScreen[Any]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)


def matching_codes(codes: Sequence[Code], typed: str) -> list[Code]:
    """The codes whose id or name contains ``typed`` (any case): those starting with it first,
    each group in codebook order."""
    q = typed.strip().lower()
    if not q:
        return list(codes)
    hits = [c for c in codes if q in c.id.lower() or q in c.name.lower()]
    return sorted(hits, key=lambda c: not (c.id.lower().startswith(q)
                                           or c.name.lower().startswith(q)))


class CodePicker(_Modal):
    """Type to filter the codes by id or name; Enter gives the highlighted one."""

    BINDINGS = [Binding("down", "move(1)", show=False), Binding("up", "move(-1)", show=False)]

    def __init__(self, codes: Sequence[Code], title: str) -> None:
        super().__init__()
        self.codes, self.title_text = list(codes), title
        self.shown: list[Code] = list(codes)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="title")
            yield Input(placeholder="type a code's id or name", id="typed")
            yield OptionList(id="codes")
            yield Static("", id="about")
            yield Static("Enter applies · ↑↓ choose · Esc cancels", classes="hint")

    def on_mount(self) -> None:
        """Show every code, the first highlighted."""
        self._fill("")
        self.query_one("#typed", Input).focus()

    def _fill(self, typed: str) -> None:
        self.shown = matching_codes(self.codes, typed)
        options = self.query_one("#codes", OptionList)
        options.clear_options()
        options.add_options([Option(Text.assemble((c.id, "bold"), "  ", printable(c.name)),
                                    id=c.id) for c in self.shown])
        options.highlighted = 0 if self.shown else None
        self._about()

    def _about(self) -> None:
        options = self.query_one("#codes", OptionList)
        index = options.highlighted
        about = self.query_one("#about", Static)
        if index is None or not self.shown:
            about.update("no code matches: Backspace to widen" if not self.shown else "")
        else:
            code = self.shown[index]
            about.update(Text(" ".join(code.definition.split()) if code.definition
                              else code.name))

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter as the coder types."""
        self._fill(event.value)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """Show the highlighted code's definition."""
        self._about()

    def action_move(self, step: int) -> None:
        """Move the highlight (the typing box keeps the focus)."""
        options = self.query_one("#codes", OptionList)
        if self.shown:
            options.highlighted = ((options.highlighted or 0) + step) % len(self.shown)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Give the highlighted code."""
        index = self.query_one("#codes", OptionList).highlighted
        if index is not None and self.shown:
            self.dismiss(self.shown[index].id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """A code chosen with the mouse (or Enter in the list)."""
        self.dismiss(event.option.id)


class ChoiceScreen(_Modal):
    """Choose one of a few things (which coding to remove, which case); gives its index."""

    def __init__(self, title: str, labels: Sequence[str | Text]) -> None:
        super().__init__()
        self.title_text, self.labels = title, list(labels)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="title")
            yield OptionList(*[Option(Text(label) if isinstance(label, str) else label,
                                      id=str(i)) for i, label in enumerate(self.labels)],
                             id="choices")
            yield Static("Enter chooses · Esc cancels", classes="hint")

    def on_mount(self) -> None:
        """Focus the list, its first item highlighted."""
        options = self.query_one("#choices", OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Give the chosen item's index."""
        self.dismiss(int(event.option.id or 0))


class MemoScreen(_Modal):
    """Write (or clear) the memo of a coding; Enter saves it."""

    def __init__(self, title: str, memo: str) -> None:
        super().__init__()
        self.title_text, self.memo = title, memo

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="title")
            yield Input(value=self.memo, placeholder="a note on this coding", id="memo")
            yield Static("Enter saves (empty: no memo) · Esc cancels", classes="hint")

    def on_mount(self) -> None:
        """Start typing at once."""
        self.query_one("#memo", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Give the memo typed."""
        self.dismiss(event.value)


def hit_label(hit: Hit, width: int = 70) -> Text:
    """A search hit on one line of ``width`` cells: segment id, left context, the match
    emphasised, right context (cut to fit, the match kept in the middle)."""
    room = max(width - 12, 20)
    match = printable(" ".join(hit.match.split()))[:room // 2]
    side = (room - len(match)) // 2
    left = printable(re.sub(r"\s+", " ", hit.left))[-side:] if side else ""
    right = printable(re.sub(r"\s+", " ", hit.right))[:room - len(match) - len(left)]
    return Text.assemble((f"{hit.segment:<11} ", "dim"), left, (match, "bold reverse"), right)


class SearchScreen(_Modal):
    """Keyword in context: type words, Enter searches, Enter on a hit goes there."""

    BINDINGS = [Binding("ctrl+l", "lemma", "Toggle lemma", show=False)]

    def __init__(self, run: Callable[[str, bool], list[Hit]], where: str) -> None:
        super().__init__()
        self.run, self.where = run, where
        self.lemma = False
        self.hits: list[Hit] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Search respondent text ({self.where})"), classes="title")
            yield Input(placeholder="words to find", id="query")
            yield Static("", id="found")
            yield OptionList(id="hits")
            yield Static("", classes="hint", id="hint")

    def on_mount(self) -> None:
        """Start typing at once."""
        self._hint()
        self.query_one("#query", Input).focus()

    def _hint(self) -> None:
        lemma = "on" if self.lemma else "off"
        self.query_one("#hint", Static).update(
            f"Enter searches, then ↓ and Enter go to a hit · Ctrl+L inflections: {lemma} · "
            "Esc closes")

    def action_lemma(self) -> None:
        """Match inflections too (or not), and search again."""
        self.lemma = not self.lemma
        self._hint()
        if self.query_one("#query", Input).value.strip():
            self._search()

    def _search(self) -> None:
        query = self.query_one("#query", Input).value
        self.hits = self.run(query, self.lemma) if query.strip() else []
        options = self.query_one("#hits", OptionList)
        options.clear_options()
        width = options.scrollable_content_region.width or 60
        options.add_options([Option(hit_label(h, width), id=str(i))
                             for i, h in enumerate(self.hits)])
        n = len(self.hits)
        self.query_one("#found", Static).update(Text(
            f"{n} hit{'s' if n != 1 else ''}" if n else f"no hits for {query.strip()!r}"))
        if n:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Search, and move to the hits."""
        self._search()
        if self.hits:
            self.query_one("#hits", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Go to the chosen hit."""
        self.dismiss(self.hits[int(event.option.id or 0)])


class FilterScreen(_Modal):
    """Set the filters: one case, one code, only uncoded, only pending. Esc closes and
    applies them."""

    def __init__(self, filters: Filters, cases: Sequence[str], codes: Sequence[Code]) -> None:
        super().__init__()
        self.filters, self.cases, self.codes = filters, list(cases), list(codes)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Filters: which segments the transcript shows", classes="title")
            yield OptionList(id="menu")
            yield Static("Enter changes · Esc or f closes", classes="hint")

    def on_mount(self) -> None:
        """Show the menu, focused."""
        self._menu(0)
        self.query_one("#menu", OptionList).focus()

    def _menu(self, highlighted: int) -> None:
        f = self.filters
        onoff = {True: "on", False: "off"}
        items = [("case", f"Case: {f.case or 'all'}"),
                 ("code", f"Code: {f.code} (Enter: all codes)" if f.code else
                  "Code: all (Enter: choose one; coded or suggested, codes below it too)"),
                 ("uncoded", f"Only respondent segments you have not coded: "
                             f"{onoff[f.uncoded]}"),
                 ("pending", f"Only segments with suggestions for you: {onoff[f.pending]}"),
                 ("clear", "Clear every filter")]
        menu = self.query_one("#menu", OptionList)
        menu.clear_options()
        menu.add_options([Option(Text(label), id=key) for key, label in items])
        menu.highlighted = highlighted

    def key_f(self) -> None:
        """f closes, as it opened."""
        self.dismiss(self.filters)

    def action_cancel(self) -> None:
        """Close, applying the filters set."""
        self.dismiss(self.filters)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Change the filter chosen."""
        key = event.option.id
        at = event.option_index
        if key == "uncoded":
            self._set(replace(self.filters, uncoded=not self.filters.uncoded), at)
        elif key == "pending":
            self._set(replace(self.filters, pending=not self.filters.pending), at)
        elif key == "clear":
            self._set(Filters(), at)
        elif key == "case":
            def chosen_case(index: int | None) -> None:
                if index is not None:
                    case = None if index == 0 else self.cases[index - 1]
                    self._set(replace(self.filters, case=case), at)
            self.app.push_screen(ChoiceScreen("Only this case", ["all cases", *self.cases]),
                                 chosen_case)
        elif key == "code" and self.filters.code is not None:
            self._set(replace(self.filters, code=None), at)
        elif key == "code":
            def chosen_code(code: str | None) -> None:
                if code is not None:
                    self._set(replace(self.filters, code=code), at)
            self.app.push_screen(CodePicker(self.codes, "Only this code (Esc: keep)"),
                                 chosen_code)

    def _set(self, filters: Filters, at: int) -> None:
        self.filters = filters
        self._menu(at)


class HelpScreen(_Modal):
    """The keys, all of them; any of Esc, ? or q closes it."""

    BINDINGS = [Binding("question_mark,q", "cancel", show=False)]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        text = Text()
        for i, (key, what) in enumerate(self.keys):
            text.append(f"{key:<17}", style="bold")
            text.append(what + ("\n" if i < len(self.keys) - 1 else ""))
        with Vertical():
            yield Static("Workbench keys (every action is saved at once)", classes="title")
            with VerticalScroll(id="keys"):
                yield Static(text)
            yield Static("Esc, ? or q closes", classes="hint")
