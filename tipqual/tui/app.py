"""The workbench app: the transcript, the codebook tree, the keys, and the coder's actions.

:class:`WorkbenchApp` shows one source at a time (:class:`~tipqual.tui.widgets.TranscriptView`)
beside the codebook (:class:`~tipqual.tui.widgets.CodebookTree`), a line saying where the coder
is, a line saying what the last action saved, and the keys in the footer. Every key that
changes the study calls :class:`~tipqual.tui.session.WorkbenchSession`, which saves at once;
the line under the transcript reports it only after the commit. The study is read again after
each action and every few seconds, so another coder's work in the same study shows up.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static, Tree

from tipqual.errors import TipqualError
from tipqual.tui.keys import HELP, KEYS, MAIN_ACTIONS, binding, screen_text
from tipqual.tui.layout import View, WordSelection
from tipqual.tui.screens import (
    MODAL_CSS,
    ChoiceScreen,
    CodePicker,
    FilterScreen,
    HelpScreen,
    MemoScreen,
    SearchScreen,
)
from tipqual.tui.session import SegmentState, WorkbenchSession, short
from tipqual.tui.widgets import CodebookTree, TranscriptView, code_details

__all__ = ["KEYS", "HELP", "WorkbenchApp", "screen_text"]

REFRESH_SECONDS = 3.0  # how often the study is read again for other coders' work
NARROW = 70  # columns below which the codebook is hidden until t shows it

class WorkbenchApp(App[int]):
    """The coding workbench over one session; its result is the number of actions kept."""

    TITLE = "tipqual workbench"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #top { height: 1; background: $primary; color: $text; padding: 0 1; }
    #main { height: 1fr; }
    #transcript { width: 1fr; }
    #side { width: 30; border-left: vkey $primary; }
    #side.hidden { display: none; }
    #tree { height: 1fr; }
    #details { display: none; height: auto; max-height: 60%; border-top: hkey $primary;
               overflow-y: auto; }
    #details.shown { display: block; }
    #message { height: 1; padding: 0 1; color: $success; }
    #message.error { color: $error; }
    Footer { height: 1; }
    """ + MODAL_CSS
    BINDINGS = [binding(k, a, lab) for k, a, lab in KEYS]

    def __init__(self, session: WorkbenchSession, source: str, segment: str | None = None):
        super().__init__()
        self.session = session
        self.source_id = source
        self.states: list[SegmentState] = []
        self.current: int | None = None
        self.suggestion = 0
        self.words = WordSelection()  # the word cursor and the words selected (span coding)
        self._start = segment
        self.message = ""
        self.error = False
        self._side_hidden: bool | None = None  # None: shown unless the screen is narrow

    # --- building and drawing -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="top")
        with Horizontal(id="main"):
            yield TranscriptView(id="transcript")
            with Vertical(id="side"):
                yield CodebookTree(self.session.codebook, id="tree")
                yield Static(id="details")
        yield Static(id="message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Open the starting source at the starting segment, and watch the study."""
        self.message = ("every action is saved at once · ? lists the keys"
                        + (" · blind: other coders' codings are hidden"
                           if self.session.blind else ""))
        self._open(self.source_id, self._start)
        self.query_one(TranscriptView).focus()
        self.set_interval(REFRESH_SECONDS, self._poll)

    def on_resize(self, event: Any) -> None:
        """A wider codebook on a wide screen, none on a narrow one (unless t asked for it)."""
        side = self.query_one("#side")
        side.styles.width = 30 if self.size.width < 120 else 40
        hidden = self.size.width < NARROW if self._side_hidden is None else self._side_hidden
        side.set_class(hidden, "hidden")

    def _view(self) -> View:
        shown = [i for i, s in enumerate(self.states)
                 if self.session.passes(s) or i == self.current]
        colors = {c.id: c.color for c in self.session.codebook.codes if c.color}
        empty = (f"No segment of {self.source_id} passes the filters "
                 f"({self.session.filters.describe()}): f changes them, n/p go to other "
                 "sources.")
        return View(self.states, shown, self.current, self.suggestion, self.words.span(),
                    self.words.caret_range(), self.session.coder, colors, empty)

    def _redraw(self, follow: bool = True) -> None:
        state = self.state()
        if state is not None and state.pending:
            self.suggestion = max(0, min(self.suggestion, len(state.pending) - 1))
        self.query_one(TranscriptView).show(self._view(), follow=follow)
        self.query_one("#top", Static).update(Text(self._where()))
        message = self.query_one("#message", Static)
        message.update(Text(self.message))  # transcript words are text, never markup
        message.set_class(self.error, "error")
        self._details()

    def _where(self) -> str:
        s = self.session
        ids = s.source_ids()
        at = f"{ids.index(self.source_id) + 1}/{len(ids)}" if self.source_id in ids else "-"
        case = s.source_case(self.source_id)
        parts = [f"{s.coder}{' (blind)' if s.blind else ''}",
                 f"{self.source_id} [{at}]" + (f" case {case}" if case and case !=
                                               self.source_id else "")]
        if self.current is not None:
            n = self.states[self.current].segment.n
            parts.append(f"segment {n}/{len(self.states)}")
        parts.append(f"showing {s.filters.describe()}")
        return " │ ".join(parts)

    def _details(self) -> None:
        panel = self.query_one("#details", Static)
        if not panel.has_class("shown"):
            return
        code_id = self.query_one(CodebookTree).highlighted_code()
        if code_id is None:
            panel.update("")
            return
        panel.update(code_details(self.session.codebook.code(code_id)))

    def _say(self, message: str, error: bool = False) -> None:
        self.message, self.error = message, error
        self._redraw(follow=False)

    # --- where the cursor is ----------------------------------------------------------------------

    def state(self) -> SegmentState | None:
        """The segment under the cursor."""
        return None if self.current is None else self.states[self.current]

    def _passing(self) -> list[int]:
        return [i for i, s in enumerate(self.states) if self.session.passes(s)]

    def _open(self, source: str, segment: str | None = None, last: bool = False) -> None:
        """Show a source, the cursor on ``segment`` (else its first, or ``last``, segment that
        passes the filters)."""
        self.source_id = source
        self.states = self.session.states(source)
        ids = [s.segment.id for s in self.states]
        passing = self._passing()
        if segment is not None and segment in ids:
            self.current = ids.index(segment)
        elif passing:
            self.current = passing[-1] if last else passing[0]
        else:
            self.current = None
        self._reset_cursor()
        self._redraw()

    def _reset_cursor(self) -> None:
        self.suggestion = 0
        state = self.state()
        self.words.reset("" if state is None else state.segment.text)
        self._follow_suggestion()

    def _follow_suggestion(self) -> None:
        state = self.state()
        if state is not None and state.pending:
            index = max(0, min(self.suggestion, len(state.pending) - 1))
            self.query_one(CodebookTree).show_code(state.pending[index].code)

    def _reload(self) -> None:
        """Read the source again, the cursor staying on its segment."""
        keep = None if self.current is None else self.states[self.current].segment.id
        self.states = self.session.states(self.source_id)
        ids = [s.segment.id for s in self.states]
        passing = self._passing()
        self.current = ids.index(keep) if keep in ids else (passing[0] if passing else None)
        if self.current is None or keep not in ids:
            self._reset_cursor()
        else:  # the same segment: the selection stays (on its text as stored now)
            self.words.text = self.states[self.current].segment.text

    def _poll(self) -> None:
        """Show other coders' work (every few seconds, when no pop-up is open)."""
        if isinstance(self.screen, ModalScreen):
            return
        before = self.states
        self._reload()
        if self.states != before:
            self._redraw(follow=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The main screen's keys do nothing while a pop-up is open."""
        return not (action in MAIN_ACTIONS and isinstance(self.screen, ModalScreen))

    # --- moving -------------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        """The next (``1``) or previous (``-1``) segment that passes the filters."""
        if self.current is None:
            self._say("no segment here; n/p go to other sources, f changes the filters")
            return
        cur = self.current
        ahead = [i for i in self._passing() if (i > cur if step > 0 else i < cur)]
        if not ahead:
            self._say(f"{'last' if step > 0 else 'first'} segment of {self.source_id}; "
                      f"{'n' if step > 0 else 'p'} goes to the {'next' if step > 0 else 'previous'}"
                      " source")
            return
        self.current = ahead[0] if step > 0 else ahead[-1]
        self._reset_cursor()
        self._redraw()

    def _next_source(self, step: int) -> str | None:
        ids = self.session.source_ids()
        pos = ids.index(self.source_id) if self.source_id in ids else (-1 if step > 0
                                                                       else len(ids))
        pos += step
        while 0 <= pos < len(ids):
            states = self.session.states(ids[pos])
            if not self.session.filters.active or any(self.session.passes(s) for s in states):
                return ids[pos]
            pos += step
        return None

    def action_source(self, step: int) -> None:
        """The next (``1``) or previous (``-1``) source with segments that pass the filters."""
        found = self._next_source(step)
        if found is None:
            self._say(f"no {'next' if step > 0 else 'previous'} source"
                      + (" with segments passing the filters" if self.session.filters.active
                         else ""))
            return
        self.message, self.error = "", False
        self._open(found)

    def action_suggestion(self, step: int) -> None:
        """The next (``1``) or previous (``-1``) suggestion for this coder, onward."""
        state = self.state()
        if state is not None and 0 <= self.suggestion + step < len(state.pending):
            self.suggestion += step
            self._follow_suggestion()
            self._redraw()
            return
        cur = -1 if self.current is None else self.current
        order = self._passing() if step > 0 else self._passing()[::-1]
        for i in order:
            if (i > cur if step > 0 else i < cur) and self.states[i].pending:
                self.current = i
                self._reset_cursor()
                self.suggestion = 0 if step > 0 else len(self.states[i].pending) - 1
                self._follow_suggestion()
                self._redraw()
                return
        source: str | None = self.source_id
        while source is not None:
            source = self._next_source_after(source, step)
            if source is None:
                break
            states = self.session.states(source)
            found = [i for i, s in enumerate(states) if self.session.passes(s) and s.pending]
            if found:
                self._open(source, states[found[0] if step > 0 else found[-1]].segment.id)
                if step < 0:
                    self.suggestion = len(self.states[self.current or 0].pending) - 1
                    self._redraw()
                return
        self._say("no more suggestions for you " + ("after" if step > 0 else "before")
                  + " this one")

    def _next_source_after(self, source: str, step: int) -> str | None:
        ids = self.session.source_ids()
        if source not in ids:
            return None
        pos = ids.index(source) + step
        return ids[pos] if 0 <= pos < len(ids) else None

    def action_caret(self, step: int) -> None:
        """Move the word cursor within the segment (and drop the selection)."""
        if self.words.move(step):
            self._redraw(follow=False)

    def action_select(self, step: int) -> None:
        """Select words from the word cursor (the first press selects the word it is on)."""
        if self.words.extend(step):
            self._said_selection()

    def action_clear(self) -> None:
        """Drop the word cursor and the selection."""
        self.words.clear()
        self._redraw(follow=False)

    def _said_selection(self) -> None:
        self._say(f"selected «{short(self.words.selected(), 50)}»: c codes just these words")

    def on_transcript_view_pointer(self, message: TranscriptView.Pointer) -> None:
        """A press moves the cursor there; a drag selects words (span coding by mouse)."""
        if message.kind == "down":
            if message.segment != self.current:
                self.current = message.segment
                self._reset_cursor()
            self.words.press(message.offset)
        elif message.kind == "drag" and message.segment == self.current \
                and message.offset is not None:
            self.words.drag(message.offset)
        else:
            return
        if self.words.span() is not None:
            self._said_selection()
        else:
            self._redraw(follow=False)

    # --- acting on the study --------------------------------------------------------------------

    def _act(self, do: Any) -> None:
        """Run one action (saved by the session before it returns) and say what it saved."""
        done = len(self.session.history)
        try:
            said = do()
        except TipqualError as exc:
            self._reload()
            self._say(f"Error: {exc.format()}", error=True)
            return
        self._reload()
        changed = len(self.session.history) > done  # else nothing to save: say why
        self._say(f"saved: {said} (u undoes)" if changed else said)

    def _need_segment(self) -> SegmentState | None:
        state = self.state()
        if state is None:
            self._say("no segment under the cursor", error=True)
        return state

    def action_code(self) -> None:
        """Pick a code and apply it to the segment, or to the selected words."""
        state = self._need_segment()
        if state is None:
            return
        seg, span = state.segment, self.words.span()
        title = (f"Code «{short(seg.text[span[0]:span[1]], 40)}» in {seg.id}" if span
                 else f"Code segment {seg.id}")

        def chosen(code_id: str | None) -> None:
            if code_id is not None:
                self.words.clear()
                self._act(lambda: self.session.code(seg.id, code_id, span))
        self.push_screen(CodePicker(self.session.codes(), title), chosen)

    def _which(self, state: SegmentState, verb: str, then: Any) -> None:
        """Run ``then`` on one of this coder's codings of the segment (asking which)."""
        mine = list(state.mine)
        if not mine:
            self._say(f"you have no code on {state.segment.id} to {verb}; c codes it",
                      error=True)
            return
        if len(mine) == 1:
            then(mine[0])
            return
        text = state.segment.text
        labels = [c.code + (f" «{short(text[c.span_start:c.span_end or 0], 40)}»"
                            if c.span_start is not None else " (whole segment)")
                  + (f" ✎ {short(c.memo, 30)}" if c.memo else "") for c in mine]

        def chosen(index: int | None) -> None:
            if index is not None:
                then(mine[index])
        self.push_screen(ChoiceScreen(f"{verb.capitalize()} which of your codes on "
                                      f"{state.segment.id}?", labels), chosen)

    def action_remove(self) -> None:
        """Remove one of this coder's codes from the segment."""
        state = self._need_segment()
        if state is not None:
            self._which(state, "remove", lambda c: self._act(lambda: self.session.remove(c)))

    def action_memo(self) -> None:
        """Write the memo on one of this coder's codes of the segment."""
        state = self._need_segment()
        if state is None:
            return

        def edit(coding: Any) -> None:
            def written(text: str | None) -> None:
                if text is not None:
                    self._act(lambda: self.session.memo(coding, text))
            self.push_screen(MemoScreen(f"Memo on {coding.code}, {coding.segment}",
                                        coding.memo or ""), written)
        self._which(state, "memo", edit)

    def action_decide(self, accept: bool) -> None:
        """Accept or reject the suggestion under the cursor (▶)."""
        state = self._need_segment()
        if state is None:
            return
        if not state.pending:
            self._say(f"no suggestion for you on {state.segment.id}; s finds the next",
                      error=True)
            return
        item = state.pending[max(0, min(self.suggestion, len(state.pending) - 1))]
        self._act(lambda: self.session.accept(item) if accept else self.session.reject(item))

    def action_undo(self) -> None:
        """Undo this session's last action."""
        try:
            action = self.session.undo()
        except TipqualError as exc:
            self._say(f"Error: {exc.format()}", error=True)
            return
        if action is None:
            self._say("nothing to undo in this session")
            return
        try:
            self._go_to(action.segment)
        except TipqualError as exc:  # its segment went away meanwhile: the undo still holds
            self._say(f"undone: {action.message} ({exc.format()})")
            return
        self._say(f"undone: {action.message}")

    def _go_to(self, segment_id: str) -> None:
        segment = self.session.find_segment(segment_id)
        if segment.source != self.source_id or not self.states:
            self._open(segment.source, segment.id)
            return
        self._reload()
        ids = [s.segment.id for s in self.states]
        if segment_id in ids and self.current != ids.index(segment_id):
            self.current = ids.index(segment_id)
            self._reset_cursor()
        self._redraw()

    def action_search(self) -> None:
        """Search respondent text and go to the hit chosen."""
        def run(query: str, lemma: bool) -> list[Any]:
            return self.session.search(query, lemma=lemma)

        def chosen(hit: Any) -> None:
            if hit is not None:
                self._go_to(hit.segment)
                self._say(f"found «{short(hit.match, 40)}» in {hit.segment}")
        self.push_screen(SearchScreen(run, self.session.filters.describe()), chosen)

    def action_filters(self) -> None:
        """Set the filters, then show what passes them."""
        s = self.session

        def chosen(filters: Any) -> None:
            if filters is None or filters == s.filters:
                return
            try:
                s.set_filters(filters)
            except TipqualError as exc:
                self._say(f"Error: {exc.format()}", error=True)
                return
            self._settle()
        self.push_screen(FilterScreen(s.filters, s.cases(), s.codebook.codes), chosen)

    def _settle(self) -> None:
        """After the filters changed: stay if the segment passes, else go to one that does."""
        s = self.session
        if self.source_id in s.source_ids():
            self._reload()
            passing = self._passing()
            if self.current is not None and self.current in passing:
                self._say(f"showing {s.filters.describe()}")
                return
            if passing:
                cur = self.current or 0
                self.current = next((i for i in passing if i >= cur), passing[-1])
                self._reset_cursor()
                self._say(f"showing {s.filters.describe()}")
                return
        found = self._next_source(1) if self.source_id in s.source_ids() else None
        if found is None:
            ids = s.source_ids()
            self.source_id = ids[0] if ids else self.source_id
            found = self._first_passing_source()
        if found is not None:
            self._open(found)
            self._say(f"showing {s.filters.describe()}")
        else:
            self._reload()
            self.current = None
            self._say(f"no segment passes the filters ({s.filters.describe()})", error=True)

    def _first_passing_source(self) -> str | None:
        for source in self.session.source_ids():
            if any(self.session.passes(s) for s in self.session.states(source)):
                return source
        return None

    # --- the rest -------------------------------------------------------------------------------

    def action_details(self) -> None:
        """Show or hide the highlighted code's definition and criteria."""
        self.query_one("#details", Static).toggle_class("shown")
        self._details()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        """Keep the definition in step with the tree's cursor."""
        self._details()

    def action_sidebar(self) -> None:
        """Show or hide the codebook."""
        side = self.query_one("#side")
        self._side_hidden = not side.has_class("hidden")
        side.set_class(self._side_hidden, "hidden")

    def action_help(self) -> None:
        """List every key."""
        self.push_screen(HelpScreen(HELP))

    def action_quit(self) -> None:  # type: ignore[override]
        """Quit: every action is already saved."""
        self.exit(len(self.session.history))
