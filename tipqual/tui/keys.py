"""The workbench's keys (bindings, footer labels, the ? list) and its screen as text.

:data:`KEYS` is every key of the main screen with its action and footer label; :data:`HELP` is
what ``?`` lists, as a coder types the keys. :func:`screen_text` is the screen as plain text
(the tests' snapshots and the README's capture).
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.binding import Binding

# (keys, action, footer label: "" for none)
KEYS: list[tuple[str, str, str]] = [
    ("down,j", "move(1)", ""), ("up,k", "move(-1)", ""),
    ("n", "source(1)", ""), ("p", "source(-1)", ""),
    ("c", "code", "code"), ("x", "remove", "remove"),
    ("a", "decide(True)", "accept"), ("r", "decide(False)", "reject"),
    ("s", "suggestion(1)", ""), ("S", "suggestion(-1)", ""),
    ("m", "memo", "memo"), ("slash", "search", "search"), ("u", "undo", "undo"),
    ("f", "filters", "filter"),
    ("right,l", "caret(1)", ""), ("left,h", "caret(-1)", ""),
    ("shift+right", "select(1)", ""), ("shift+left", "select(-1)", ""),
    ("escape", "clear", ""), ("d", "details", ""), ("t", "sidebar", ""),
    ("question_mark", "help", "keys"), ("q", "quit", "quit"),
]
# what ? shows: every key above (and tab), as the coder types them
HELP: list[tuple[str, str]] = [
    ("↓ ↑   j k", "next / previous segment"),
    ("n p", "next / previous source (transcript)"),
    ("c", "code the segment (or selected words): type, Enter"),
    ("x", "remove one of your codes from the segment"),
    ("a r", "accept / reject the suggestion under the cursor (▶)"),
    ("s S", "next / previous suggestion for you"),
    ("m", "memo on one of your codes of the segment"),
    ("/", "search respondent text; Enter on a hit goes there"),
    ("u", "undo this session's last action"),
    ("f", "filters: a case, a code, uncoded, pending"),
    ("→ ←   l h", "word cursor to the next / previous word"),
    ("shift+→ shift+←", "select words (c then codes just them); Esc drops"),
    ("d", "the highlighted code's definition and criteria"),
    ("t", "show / hide the codebook"),
    ("tab", "move between the transcript and the codebook tree"),
    ("?", "this list"),
    ("q", "quit (everything is already saved)"),
]
# actions of the main screen: not while a pop-up is open
MAIN_ACTIONS = {a.split("(")[0] for _, a, _ in KEYS}


def screen_text(app: App[Any]) -> str:
    """The screen as plain text, one line per row (what a terminal of that size shows): for
    tests and for documentation captures."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    # Textual has no public text export; its own SVG export draws the same compositor output
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def binding(keys: str, action: str, label: str) -> Binding:
    display = {"slash": "/", "question_mark": "?"}.get(keys)
    return Binding(keys, action, label or action, show=bool(label), key_display=display)
