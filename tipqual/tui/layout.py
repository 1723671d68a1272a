"""The transcript as lines: segments wrapped between words, with their codes and suggestions.

:func:`layout` turns a source's segments (as a :class:`~tipqual.tui.session.SegmentState`
each) into the lines the workbench draws, for a given width. Each line knows which segment it
belongs to and, for a line of segment text, which characters of that text it holds, so a mouse
position maps back to a character offset (span coding). Text is broken at whitespace only; a
word longer than a whole line is the one thing cut. The current segment shows everything:
every coding with its memo, and each pending suggestion with its score and why (in words, from
:meth:`tipqual.coding.review.Suggestion.reasons`), the one under the cursor with its matched
words emphasised; other segments show their codes and suggestions on a line or two.

Only Rich (which Textual brings) is used here: the lines are :class:`rich.text.Text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text

from tipqual.records import Coding
from tipqual.tui.session import SegmentState, short

GUTTER = 2  # cells before every line: the cursor's bar, then a space
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WORD = re.compile(r"\w+(?:['’\-]\w+)*")

STYLE_HEADER = Style(bold=True)
STYLE_DIM = Style(dim=True)
STYLE_BAR = Style(color="bright_cyan", bold=True)
STYLE_SELECTED = Style(reverse=True)
STYLE_CARET = Style(underline=True)
STYLE_MATCH = Style(bold=True, underline=True)
STYLE_MINE = Style(color="green", bold=True)
STYLE_OTHER = Style(color="cyan")
STYLE_PENDING = Style(color="yellow")
STYLE_CHOSEN = Style(color="black", bgcolor="yellow")


@dataclass(frozen=True)
class Line:
    """One line of the transcript as drawn."""

    text: Text  # what follows the gutter
    segment: int | None = None  # index of its segment in the states given to :func:`layout`
    chars: tuple[int, int] | None = None  # for a line of segment text: its characters
    current: bool = False  # a line of the current segment: the gutter shows the cursor's bar

    def full(self) -> Text:
        """The line as drawn: the gutter, then the text."""
        bar = Text("▌ ", STYLE_BAR) if self.current else Text(" " * GUTTER)
        return bar + self.text


@dataclass
class View:
    """What the transcript shows: the segments, which of them, the cursor and the selection."""

    states: list[SegmentState]
    shown: list[int]  # indices into ``states`` of the segments shown, in order
    current: int | None = None  # index into ``states``
    suggestion: int = 0  # index into the current segment's pending suggestions
    selection: tuple[int, int] | None = None  # characters of the current segment's text
    caret: tuple[int, int] | None = None  # the word the keyboard caret is on
    coder: str = ""
    colors: dict[str, str] = field(default_factory=dict)  # code id: colour
    empty: str = "Nothing to show."


def printable(text: str) -> str:
    """``text`` with control characters (tabs, escapes) as spaces: same length, same offsets."""
    return _CONTROL.sub(" ", text)


def words(text: str) -> list[tuple[int, int]]:
    """The words of ``text`` as character ranges (punctuation around a word left out)."""
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def word_at(text: str, offset: int) -> int | None:
    """Index in :func:`words` of the word at or nearest before ``offset`` (else the first)."""
    found = words(text)
    if not found:
        return None
    best = 0
    for i, (start, _) in enumerate(found):
        if start <= offset:
            best = i
    return best


@dataclass
class WordSelection:
    """The keyboard's word cursor and the words selected in one segment's text (word
    indices into :func:`words`); ``anchor`` is where a selection began, None when none."""

    text: str = ""
    caret: int | None = None
    anchor: int | None = None
    drag_from: int | None = None  # the word the mouse was pressed on

    def reset(self, text: str) -> None:
        """A new segment: no cursor, no selection."""
        self.text = text
        self.clear()

    def clear(self) -> None:
        """Drop the cursor and the selection."""
        self.caret = self.anchor = self.drag_from = None

    def _last(self) -> int:
        return len(words(self.text)) - 1

    def move(self, step: int) -> bool:
        """The cursor to the next (``1``) or previous (``-1``) word; False without words."""
        last = self._last()
        if last < 0:
            return False
        start = (0 if step > 0 else last) if self.caret is None else self.caret + step
        self.caret, self.anchor = max(0, min(start, last)), None
        return True

    def extend(self, step: int) -> bool:
        """Select from the cursor: the first call selects the word it is on (the first or
        last word when there is no cursor), each further call one word more."""
        last = self._last()
        if last < 0:
            return False
        if self.anchor is None:
            if self.caret is None:
                self.caret = 0 if step > 0 else last
            self.anchor = self.caret
        else:
            self.caret = max(0, min((self.caret or 0) + step, last))
        return True

    def press(self, offset: int | None) -> None:
        """The mouse pressed at character ``offset`` (None: not on the text)."""
        self.caret = None if offset is None else word_at(self.text, offset)
        self.anchor, self.drag_from = None, self.caret

    def drag(self, offset: int) -> None:
        """The mouse dragged to character ``offset``: select from where it was pressed."""
        if self.drag_from is not None:
            self.anchor, self.caret = self.drag_from, word_at(self.text, offset)

    def span(self) -> tuple[int, int] | None:
        """The characters selected, from the first word's start to the last one's end."""
        found = words(self.text)
        if self.anchor is None or self.caret is None or not found:
            return None
        lo, hi = sorted((self.anchor, self.caret))
        return found[min(lo, len(found) - 1)][0], found[min(hi, len(found) - 1)][1]

    def caret_range(self) -> tuple[int, int] | None:
        """The characters of the word the cursor is on."""
        found = words(self.text)
        if self.caret is None or not found:
            return None
        return found[min(self.caret, len(found) - 1)]

    def selected(self) -> str:
        """The text selected ("" when nothing is)."""
        span = self.span()
        return "" if span is None else self.text[span[0]:span[1]]


def wrap(text: str, width: int) -> list[tuple[int, int]]:
    """``text`` as lines of at most ``width`` cells, as character ranges: broken at whitespace,
    a word cut only when it is longer than a line; the text's own line breaks are kept."""
    width = max(width, 1)
    lines: list[tuple[int, int]] = []
    base = 0
    for hard in text.split("\n"):
        start: int | None = None
        end = 0
        for m in re.finditer(r"\S+", hard):
            w0, w1 = base + m.start(), base + m.end()
            if start is not None and cell_len(printable(text[start:w1])) <= width:
                end = w1
                continue
            if start is not None:
                lines.append((start, end))
            while cell_len(printable(text[w0:w1])) > width:  # a word longer than a line
                cut = w0 + 1
                while cut < w1 and cell_len(printable(text[w0:cut + 1])) <= width:
                    cut += 1
                lines.append((w0, cut))
                w0 = cut
            start, end = w0, w1
        lines.append((start, end) if start is not None else (base, base))
        base += len(hard) + 1
    return lines


def offset_at(text: str, chars: tuple[int, int], x: int) -> int:
    """The character of ``text`` (within the line ``chars``) drawn at cell ``x`` of the line."""
    pos, cells = chars[0], 0
    while pos < chars[1]:
        cells += cell_len(printable(text[pos]))
        if cells > x:
            return pos
        pos += 1
    return max(chars[1] - 1, chars[0])


def _wrapped(text: Text, width: int, indent: int) -> list[Text]:
    """A styled line of notes wrapped between words, continuation lines indented."""
    lines = list(text.wrap(_Console.get(), max(width - indent, 8), overflow="fold"))
    return [lines[0], *[Text(" " * indent) + line for line in lines[1:]]] if lines else []


class _Console:
    """One Rich console, only to measure and wrap notes (never printed to)."""

    _console: Console | None = None

    @classmethod
    def get(cls) -> Console:
        if cls._console is None:
            cls._console = Console(width=200, color_system=None, force_terminal=False)
        return cls._console


def _header(state: SegmentState, previous: SegmentState | None) -> Text:
    seg = state.segment
    speaker = printable(seg.speaker or "-")
    head = Text(seg.id + "  ", STYLE_DIM)
    if _continues(state, previous):
        head.append(f"{speaker}, continued", STYLE_DIM)
    else:
        head.append(speaker, STYLE_HEADER)
        if speaker.lower() != seg.role.lower():
            head.append(f" ({seg.role})", STYLE_DIM)
    return head


def _code_label(c: Coding, text: str, full: bool) -> str:
    label = c.code
    if c.span_start is not None and c.span_end is not None:
        label += f"«{short(printable(text[c.span_start:c.span_end]), 24 if full else 14)}»"
    if c.memo and not full:
        label += "✎"
    return label


def _codes(state: SegmentState, coder: str, colors: dict[str, str], full: bool) -> list[Text]:
    """Who coded what: this coder first, then the others, one line each."""
    text = state.segment.text
    by_coder: dict[str, list[Coding]] = {}
    for c in state.mine + state.others:
        by_coder.setdefault(c.coder, []).append(c)
    lines = []
    for who in sorted(by_coder, key=lambda n: (n != coder, n)):
        line = Text(f"{'✓' if who == coder else '·'} {printable(who)}: ",
                    STYLE_MINE if who == coder else STYLE_OTHER)
        for i, c in enumerate(by_coder[who]):
            if i:
                line.append(", ")
            line.append("■ ", Style(color=colors[c.code]) if c.code in colors else STYLE_DIM)
            line.append(_code_label(c, text, full))
        lines.append(line)
        if full and who == coder:
            for c in by_coder[who]:
                if c.memo:
                    lines.append(Text(f"  ✎ {c.code}: {printable(' '.join(c.memo.split()))}",
                                      STYLE_DIM))
    if state.rejected:
        lines.append(Text("✗ you rejected: " + ", ".join(c.code for c in state.rejected),
                          STYLE_DIM))
    return lines


def _pending(state: SegmentState, chosen: int | None) -> list[Text]:
    """The suggestions: one line all together, or (current segment) one each with why."""
    if not state.pending:
        return []
    if chosen is None:
        line = Text("? ", STYLE_PENDING)
        line.append(", ".join(f"{s.code} {s.score:.2f}" for s in state.pending), STYLE_PENDING)
        return [line]
    lines = []
    for i, s in enumerate(state.pending):
        mark = "▶ " if i == chosen else "? "
        line = Text(mark + f"{s.code} {s.score:.2f}", STYLE_CHOSEN if i == chosen
                    else STYLE_PENDING)
        why = "; ".join(printable(r) for r in s.reasons())
        if why:
            line.append(" — " + why, STYLE_DIM if i != chosen else Style())
        lines.append(line)
    return lines


def _text_lines(state: SegmentState, index: int, width: int, view: View,
                is_current: bool) -> list[Line]:
    text = state.segment.text
    shown = printable(text)
    marks: list[tuple[tuple[int, int], Style]] = []
    if is_current:
        if state.pending and 0 <= view.suggestion < len(state.pending):
            marks += [(m, STYLE_MATCH) for m in state.pending[view.suggestion].matches()]
        if view.caret is not None:
            marks.append((view.caret, STYLE_CARET))
        if view.selection is not None:
            marks.append((view.selection, STYLE_SELECTED))
    out = []
    for start, end in wrap(text, width):
        line = Text(shown[start:end])
        for (m0, m1), style in marks:
            lo, hi = max(m0, start), min(m1, end)
            if lo < hi:
                line.stylize(style, lo - start, hi - start)
        out.append(Line(line, index, (start, end)))
    return out


def _block(state: SegmentState, index: int, previous: SegmentState | None, width: int,
           view: View) -> list[Line]:
    """The lines of one segment (gutter not yet added)."""
    current = index == view.current
    lines = [Line(_header(state, previous), index)]
    lines += _text_lines(state, index, width, view, current)
    notes = _codes(state, view.coder, view.colors, current)
    notes += _pending(state, min(view.suggestion, len(state.pending) - 1) if current else None)
    for note in notes:
        lines += [Line(t, index) for t in _wrapped(note, width, 2)]
    return lines


# Blocks of segments other than the current one, kept between redraws: segment id, width and
# whether it continues the speaker's turn -> (the state drawn, its lines).
BlockCache = dict[tuple[str, int, bool], tuple[SegmentState, list[Line]]]


def _continues(state: SegmentState, previous: SegmentState | None) -> bool:
    return previous is not None and previous.segment.speaker == state.segment.speaker \
        and previous.segment.source == state.segment.source \
        and previous.segment.n == state.segment.n - 1


def layout(view: View, width: int, cache: BlockCache | None = None) -> list[Line]:
    """The transcript's lines for a width of ``width`` cells (gutter included).

    ``cache``, if given, keeps the lines of segments other than the current one between
    calls (a long source then redraws in the time of its current segment).
    """
    inner = max(width - GUTTER, 10)
    out: list[Line] = []
    if not view.shown:
        return [Line(t) for t in _wrapped(Text(view.empty, STYLE_DIM), inner, 0)]
    previous: SegmentState | None = None
    last = -1
    for index in view.shown:
        state = view.states[index]
        if out:
            out.append(Line(Text("")))
        if last >= 0 and index > last + 1 or last < 0 < index:
            hidden = index - last - 1
            out.append(Line(Text(f"⋯ {hidden} segment{'s' if hidden > 1 else ''} not "
                                 "shown (filters)", STYLE_DIM)))
        if index == view.current:
            block = [replace(line, current=True)
                     for line in _block(state, index, previous, inner, view)]
        else:
            key = (state.segment.id, inner, _continues(state, previous))
            cached = None if cache is None else cache.get(key)
            if cached is not None and cached[0] == state:
                block = cached[1]
            else:
                block = _block(state, index, previous, inner, view)
                if cache is not None:
                    cache[key] = (state, block)
        out += block if all(line.segment == index for line in block) else [
            replace(line, segment=index) for line in block]
        previous, last = state, index
    return out


def block_range(lines: list[Line], index: int) -> tuple[int, int]:
    """The first and last line numbers of segment ``index`` (``(0, 0)`` if not shown)."""
    found = [i for i, line in enumerate(lines) if line.segment == index]
    return (found[0], found[-1]) if found else (0, 0)


def plain(lines: list[Line]) -> str:
    """The lines as plain text (trailing spaces removed)."""
    return "\n".join(line.full().plain.rstrip() for line in lines)
