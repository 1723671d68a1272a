"""The coding workbench: every key driven headlessly (Textual's pilot), the study checked after;
screen snapshots at 80×24 and 160×50; a real terminal (tmux); two coders at once.

The study is one of community libraries (tests/fixtures/workbench: a codebook with a heading
code and two children, two transcripts, a cases table), suggested by the rules, with a second
coder's codes on it; one test runs on the sample study too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES, REPO, SAMPLE, TIP_CODEBOOK, all_gone, run_tipqual
from tipqual.records import Coding
from tipqual.store.project import Project

HERE = FIXTURES / "workbench"
SNAPSHOTS = {(80, 24): HERE / "screen-80x24.txt", (160, 50): HERE / "screen-160x50.txt"}
UPDATE = os.environ.get("TIPQUAL_UPDATE_SNAPSHOTS") == "1"  # rewrite the stored screens


def _build(path: Path) -> None:
    from click.testing import CliRunner

    from tipqual.cli import cli
    from tipqual.coding.csvio import add_coding

    runner = CliRunner()
    for args in (["init", str(path), "--codebook", str(HERE / "libraries.yaml")],
                 ["import", str(path), str(HERE / "LIB-01.txt"), str(HERE / "LIB-02.txt"),
                  "--cases", str(HERE / "cases.csv")],
                 ["suggest", str(path)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    with Project.open(path, command="code add") as p:
        add_coding(p, "LIB-01:3", "volunteers", "bea")
        add_coding(p, "LIB-02:3", "stock", "bea", memo="grant ended")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("workbench") / "libraries.db"
    _build(path)
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the libraries study."""
    target = tmp_path / "study.db"
    shutil.copy(template, target)
    return target


Script = Callable[[Any, Any], Awaitable[Any]]


def drive(db: Path, script: Script, *, coder: str = "ann", size: tuple[int, int] = (80, 24),
          blind: bool = False, source: str | None = None, segment: str | None = None) -> Any:
    """Run the workbench headlessly on ``db`` and ``script(app, pilot)`` in it."""
    from tipqual.tui.app import WorkbenchApp
    from tipqual.tui.session import WorkbenchSession

    async def main() -> Any:
        with Project.open(db, command="workbench") as project:
            session = WorkbenchSession(project, coder, blind=blind)
            start, at = session.start(source, segment)
            app = WorkbenchApp(session, start, at)
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                return await script(app, pilot)

    return asyncio.run(main())


def codings(db: Path, **filters: Any) -> list[Coding]:
    with Project.open(db, readonly=True) as p:
        return p.codings(**filters)


def mine(db: Path, coder: str = "ann") -> set[tuple[str, str, str]]:
    return {(c.segment, c.code, c.status) for c in codings(db, coders=[coder])}


def current(app: Any) -> str:
    return app.state().segment.id


def screen(app: Any) -> str:
    from tipqual.tui.app import screen_text

    return screen_text(app)


# --- moving -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_arrows_and_j_k_move_between_segments_n_p_between_sources(db):
    async def script(app, pilot):
        seen = [current(app)]
        for key in ("j", "down", "k", "up", "up"):
            await pilot.press(key)
            seen.append(current(app))
        await pilot.press("n")
        seen.append(current(app))
        await pilot.press("n")  # no source after the last one: stays, and says so
        seen.append(current(app))
        said = app.message
        await pilot.press("p")
        seen.append(current(app))
        return seen, said

    seen, said = drive(db, script)
    assert seen == ["LIB-01:1", "LIB-01:2", "LIB-01:3", "LIB-01:2", "LIB-01:1", "LIB-01:1",
                    "LIB-02:1", "LIB-02:1", "LIB-01:1"]
    assert said == "no next source"


@pytest.mark.slow
def test_opens_at_the_segment_asked_for(db):
    async def script(app, pilot):
        return current(app), app.source_id

    assert drive(db, script, segment="LIB-02:3") == ("LIB-02:3", "LIB-02")
    assert drive(db, script, source="LIB-02") == ("LIB-02:1", "LIB-02")


# --- coding -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_c_opens_a_picker_that_filters_by_id_or_name_and_enter_applies(db):
    async def script(app, pilot):
        await pilot.press("j", "c")
        picker = app.screen
        await pilot.press(*"hours")  # in no id: the name "Getting in"? no: the definition
        none = [c.id for c in picker.shown]
        for _ in range(5):
            await pilot.press("backspace")
        await pilot.press(*"getting")  # the name of 'access'
        by_name = [c.id for c in picker.shown]
        for _ in range(7):
            await pilot.press("backspace")
        await pilot.press(*"vol")  # an id
        by_id = [c.id for c in picker.shown]
        await pilot.press("enter")
        await pilot.pause()
        return none, by_name, by_id, app.message

    none, by_name, by_id, said = drive(db, script)
    assert none == [] and by_name == ["access"] and by_id == ["volunteers"]
    assert said == "saved: coded LIB-01:2 with volunteers (u undoes)"
    [c] = codings(db, coders=["ann"])
    assert (c.segment, c.code, c.status, c.provenance, c.span_start) == (
        "LIB-01:2", "volunteers", "human", "manual", None)
    with Project.open(db, readonly=True) as p:
        [entry] = [e for e in p.audit(segment="LIB-01:2") if e.coder == "ann"]
    assert (entry.command, entry.action, entry.after["status"]) == ("workbench", "add", "human")


@pytest.mark.slow
def test_coding_again_with_the_same_code_saves_nothing_and_says_so(db):
    async def script(app, pilot):
        await pilot.press("j", "c", *"stock", "enter", "c", *"stock", "enter")
        await pilot.pause()
        return app.message, len(app.session.history)

    assert drive(db, script) == ("LIB-01:2 already has stock from you", 1)
    with Project.open(db, readonly=True) as p:
        assert [e.action for e in p.audit(segment="LIB-01:2") if e.coder == "ann"] == ["add"]


@pytest.mark.slow
def test_the_picker_offers_only_codes_that_can_be_applied_and_escape_cancels(db):
    async def script(app, pilot):
        await pilot.press("c")
        offered = [c.id for c in app.screen.shown]
        await pilot.press("escape")
        await pilot.pause()
        return offered

    offered = drive(db, script)
    assert offered == ["stock", "access", "reading-club", "homework", "volunteers"]
    assert "programmes" not in offered  # a heading only groups codes
    assert mine(db) == set()


@pytest.mark.slow
def test_x_removes_one_of_your_codes_asking_which_when_several(db):
    with Project.open(db) as p:
        from tipqual.coding.csvio import add_coding

        for code in ("stock", "access"):
            add_coding(p, "LIB-01:2", code, "ann")
        add_coding(p, "LIB-01:5", "access", "ann")

    async def script(app, pilot):
        await pilot.press("j", "x")  # two codes: a choice, the second one taken
        labels = list(app.screen.labels)
        await pilot.press("down", "enter")
        await pilot.pause()
        await pilot.press("j", "j", "j", "x")  # LIB-01:5: one code, removed at once
        await pilot.pause()
        await pilot.press("j", "x")  # LIB-01:6: none of yours
        return labels, app.message

    labels, said = drive(db, script)
    assert labels == ["access (whole segment)", "stock (whole segment)"]
    assert said.startswith("you have no code on LIB-01:6")
    assert mine(db) == {("LIB-01:2", "access", "human")}


@pytest.mark.slow
def test_x_never_removes_another_coders_code(db):
    async def script(app, pilot):
        await pilot.press("j", "j", "x")
        return app.message

    assert drive(db, script).startswith("you have no code on LIB-01:3")
    assert ("LIB-01:3", "volunteers", "human") in mine(db, "bea")


@pytest.mark.slow
def test_a_and_r_decide_as_review_does(db, tmp_path):
    from tipqual.coding.review import ReviewSession

    twin = tmp_path / "twin.db"
    shutil.copy(db, twin)

    async def script(app, pilot):
        await pilot.press("j", "j")  # LIB-01:3: volunteers and reading-club suggested
        pending = [s.code for s in app.state().pending]
        await pilot.press("a")  # the first (▶): reading-club
        await pilot.pause()
        left = [s.code for s in app.state().pending]
        await pilot.press("r")
        await pilot.pause()
        return pending, left, app.message

    pending, left, said = drive(db, script)
    assert pending == ["reading-club", "volunteers"] and left == ["volunteers"]
    assert said == "saved: rejected volunteers for LIB-01:3 (u undoes)"
    got = {c.code: c for c in codings(db, coders=["ann"])}
    # the same decisions taken through the review session
    with Project.open(twin, command="workbench") as p:
        review = ReviewSession(p, "ann", refit_every=0)
        by_key = {(i.segment.id, i.code): i for i in review.items}
        for code, accept in (("reading-club", True), ("volunteers", False)):
            review.items.insert(review.position, by_key[("LIB-01:3", code)])
            review.accept() if accept else review.reject()
        want = {c.code: c for c in p.codings(coders=["ann"])}
    for code in ("reading-club", "volunteers"):
        a, b = got[code], want[code]
        assert (a.status, a.score, a.provenance) == (b.status, b.score, b.provenance)
    assert got["reading-club"].status == "accepted"
    assert got["volunteers"].provenance.startswith("review of tipqual-rules 0.")
    with Project.open(db, readonly=True) as p:
        actions = [(e.code, e.action, e.command) for e in p.audit(segment="LIB-01:3")
                   if e.coder == "ann"]
    assert actions == [("reading-club", "add", "workbench"), ("volunteers", "add", "workbench")]


@pytest.mark.slow
def test_s_moves_to_the_next_suggestion_onward_and_a_decides_it(db):
    async def script(app, pilot):
        seen = []
        for _ in range(4):
            await pilot.press("s")
            state = app.state()
            seen.append((state.segment.id, state.pending[app.suggestion].code))
        await pilot.press("S")
        back = (current(app), app.state().pending[app.suggestion].code)
        return seen, back

    seen, back = drive(db, script)
    assert seen == [("LIB-01:2", "stock"), ("LIB-01:3", "reading-club"),
                    ("LIB-01:3", "volunteers"), ("LIB-01:5", "access")]
    assert back == ("LIB-01:3", "volunteers")


@pytest.mark.slow
def test_m_writes_a_memo_on_your_coding(db):
    async def script(app, pilot):
        await pilot.press("j", "m")  # nothing of yours to write on yet
        first = app.message
        await pilot.press("c", *"stock", "enter")
        await pilot.pause()
        await pilot.press("m", *"pallet shelves", "enter")
        await pilot.pause()
        return first, app.message

    first, said = drive(db, script)
    assert first.startswith("you have no code on LIB-01:2 to memo")
    assert said == "saved: memo saved on stock, LIB-01:2 (u undoes)"
    [c] = codings(db, coders=["ann"])
    assert c.memo == "pallet shelves"


@pytest.mark.slow
def test_u_undoes_this_sessions_actions_one_by_one(db):
    before = {c.key: c for c in codings(db)}

    async def script(app, pilot):
        await pilot.press("j", "c", *"stock", "enter")  # code
        await pilot.press("m", *"first", "enter")  # memo
        await pilot.press("j", "a")  # accept on LIB-01:3
        await pilot.press("x")  # remove that accepted code again
        await pilot.pause()
        middle = mine(db)
        messages = []
        for _ in range(5):
            await pilot.press("u")
            await pilot.pause()
            messages.append(app.message)
        return middle, messages

    middle, messages = drive(db, script)
    assert middle == {("LIB-01:2", "stock", "human")}
    assert messages == ["undone: removed reading-club from LIB-01:3",
                        "undone: accepted reading-club for LIB-01:3",
                        "undone: memo saved on stock, LIB-01:2",
                        "undone: coded LIB-01:2 with stock", "nothing to undo in this session"]
    assert {c.key: c for c in codings(db)} == before


# --- span coding --------------------------------------------------------------------------------

@pytest.mark.slow
def test_shift_arrows_select_words_and_c_codes_just_that_span(db):
    async def script(app, pilot):
        await pilot.press("j")  # "It began in a container behind the clinic. A church donated …"
        await pilot.press("right", "right", "right", "right", "right", "right", "right")
        await pilot.press("shift+right", "shift+right", "shift+right", "shift+right")
        said = app.message
        await pilot.press("c", *"stock", "enter")
        await pilot.pause()
        return said, app.message

    said, saved = drive(db, script)
    assert said == "selected «the clinic. A church»: c codes just these words"
    [c] = codings(db, coders=["ann"])
    with Project.open(db, readonly=True) as p:
        text = p.segment("LIB-01:2").text
    assert text[c.span_start:c.span_end] == "the clinic. A church"
    assert saved == "saved: coded «the clinic. A church» in LIB-01:2 with stock (u undoes)"


@pytest.mark.slow
def test_the_mouse_selects_words_too(db):
    from tipqual.tui.widgets import TranscriptView

    async def script(app, pilot):
        view = app.query_one(TranscriptView)
        # the line of LIB-01:2's text that starts "It began in a container"
        y = next(i for i, line in enumerate(view.lines)
                 if line.chars and line.text.plain.strip().startswith("It began"))
        y -= round(view.scroll_offset.y)
        await pilot.mouse_down(view, offset=(2 + 3, y))  # on "began"
        await pilot.hover(view, offset=(2 + 16, y))  # on "container"
        await pilot.mouse_up(view, offset=(2 + 16, y))
        await pilot.pause()
        await pilot.press("c", *"access", "enter")
        await pilot.pause()
        return current(app)

    assert drive(db, script) == "LIB-01:2"
    [c] = codings(db, coders=["ann"])
    with Project.open(db, readonly=True) as p:
        assert p.segment("LIB-01:2").text[c.span_start:c.span_end] == "began in a container"


# --- search, filters, blind, help ----------------------------------------------------------------

@pytest.mark.slow
def test_slash_searches_and_enter_goes_to_the_hit(db):
    async def script(app, pilot):
        await pilot.press("slash", *"reading club", "enter")
        await pilot.pause()
        hits = [h.segment for h in app.screen.hits]
        await pilot.press("down", "enter")
        await pilot.pause()
        return hits, current(app), app.message

    hits, at, said = drive(db, script)
    assert hits == ["LIB-01:3", "LIB-02:5"]
    assert at == "LIB-02:5" and said == "found «reading club» in LIB-02:5"


@pytest.mark.slow
def test_search_with_no_hits_says_so(db):
    async def script(app, pilot):
        await pilot.press("slash", *"(tariff)", "enter")
        await pilot.pause()
        from textual.widgets import Static

        return str(app.screen.query_one("#found", Static).render())

    assert drive(db, script) == "no hits for '(tariff)'"


@pytest.mark.slow
def test_markup_characters_are_shown_as_typed_not_read_as_markup(db):
    async def script(app, pilot):
        await pilot.press("slash", *"[/x] [bold]", "enter")  # would raise as Textual markup
        await pilot.pause()
        from textual.widgets import Static

        found = str(app.screen.query_one("#found", Static).render())
        await pilot.press("escape")
        app._say("selected «[inaudible]»")
        await pilot.pause()
        return found, screen(app)

    found, shown = drive(db, script)
    assert found == "no hits for '[/x] [bold]'"
    assert "selected «[inaudible]»" in shown


def _menu(app) -> list[str]:
    from textual.widgets import OptionList

    menu = app.screen.query_one("#menu", OptionList)
    return [str(menu.get_option_at_index(i).prompt) for i in range(menu.option_count)]


@pytest.mark.slow
def test_filters_one_case_one_code_uncoded_pending(db):
    async def script(app, pilot):
        shown = {}
        await pilot.press("f")
        await pilot.press("down", "down", "enter")  # only uncoded
        await pilot.press("escape")
        await pilot.pause()
        shown["uncoded"] = [app.states[i].segment.id for i in app._view().shown]
        await pilot.press("f", "down", "down", "enter", "down", "enter", "escape")  # pending
        await pilot.pause()
        shown["pending"] = [app.states[i].segment.id for i in app._view().shown]
        await pilot.press("f", "down", "down", "down", "down", "enter")  # clear
        await pilot.press("up", "up", "up", "enter", *"program", "enter")  # a heading code
        menu = _menu(app)
        await pilot.press("escape")
        await pilot.pause()
        shown["programmes"] = [app.states[i].segment.id for i in app._view().shown]
        await pilot.press("f", "enter", "down", "down", "enter", "escape")  # case
        await pilot.pause()
        shown["case"] = (app.source_id, [app.states[i].segment.id for i in app._view().shown])
        await pilot.press("j")
        moved = current(app)
        return shown, menu, moved, app.session.filters.describe()

    shown, menu, moved, described = drive(db, script)
    # the cursor's segment stays in sight while it is there (LIB-01:1, an interviewer's)
    assert shown["uncoded"] == ["LIB-01:2", "LIB-01:3", "LIB-01:5", "LIB-01:6"]
    assert shown["pending"] == ["LIB-01:2", "LIB-01:3", "LIB-01:5", "LIB-01:6"]
    assert menu[1] == "Code: programmes (Enter: all codes)"
    assert shown["programmes"] == ["LIB-01:3", "LIB-01:6"]  # reading-club, homework
    assert shown["case"] == ("LIB-02", ["LIB-02:5"])
    assert moved == "LIB-02:5" and described == "case Mthatha, code programmes"


@pytest.mark.slow
def test_blind_mode_hides_other_coders(db):
    async def script(app, pilot):
        await pilot.press("j", "j")
        return screen(app), [c.coder for c in app.state().others]

    seen, others = drive(db, script)
    assert "bea: ■ volunteers" in seen and others == ["bea"]
    blind, hidden = drive(db, script, blind=True)
    assert "bea" not in blind and hidden == []
    assert "(blind)" in blind.splitlines()[0]


@pytest.mark.slow
def test_question_mark_lists_every_key(db):
    from tipqual.tui.app import HELP, KEYS

    async def script(app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen(app)
        await pilot.press("q")  # closes the list, does not quit
        await pilot.pause()
        return text, app.is_running, type(app.screen).__name__

    text, running, on = drive(db, script)  # 80×24: the whole list fits
    for key, what in HELP:
        assert f"{key:<17}{what}" in text
    shown = " ".join(k for k, _ in HELP).split()
    names = {"down": "↓", "up": "↑", "right": "→", "left": "←", "slash": "/",
             "question_mark": "?", "escape": "Esc", "shift+right": "shift+→",
             "shift+left": "shift+←"}
    for keys, _, _ in KEYS:
        for key in keys.split(","):
            assert names.get(key, key) in shown or key == "escape", key
    assert "Esc drops" in text and "tab" in shown
    assert running and on == "Screen"


@pytest.mark.slow
def test_q_quits_and_the_result_counts_the_actions_kept(db):
    async def script(app, pilot):
        await pilot.press("j", "c", *"stock", "enter", "j", "c", *"vol", "enter", "u", "q")
        await pilot.pause()
        return app.return_value

    assert drive(db, script) == 1
    assert mine(db) == {("LIB-01:2", "stock", "human")}


def test_keys_are_in_the_footer():
    from tipqual.tui.app import KEYS

    footer = [label for _, _, label in KEYS if label]
    assert footer == ["code", "remove", "accept", "reject", "memo", "search", "undo", "filter",
                      "keys", "quit"]


# --- screens ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("size", sorted(SNAPSHOTS))
def test_screen_snapshot(db, size):
    async def script(app, pilot):
        await pilot.press("j", "j", "s")  # LIB-01:3 (bea's code, two suggestions), the second
        return screen(app)

    text = drive(db, script, size=size)
    lines = text.split("\n")
    width, height = size
    assert len(lines) == height and max(map(len, lines)) <= width
    assert "▶ volunteers 0.70 — rules 0.70: phrase" in text
    assert all(w in lines[-1] for w in ("code", "remove", "accept", "reject", "undo", "quit"))
    if UPDATE:
        SNAPSHOTS[size].write_text(text + "\n", encoding="utf-8")
    expected = SNAPSHOTS[size].read_text(encoding="utf-8").rstrip("\n").split("\n")
    # the footer is Textual's own drawing: the keys are checked above, the rest line by line
    assert lines[:-1] == expected[:-1]


@pytest.mark.slow
def test_t_hides_the_codebook_and_a_narrow_screen_starts_without_it(db):
    async def script(app, pilot):
        side = app.query_one("#side")
        shown = [side.display]
        await pilot.press("t")
        shown.append(side.display)
        await pilot.resize_terminal(60, 20)
        shown.append(side.display)
        await pilot.press("t")
        shown.append(side.display)
        return shown

    assert drive(db, script) == [True, False, False, True]

    async def narrow(app, pilot):
        return app.query_one("#side").display, screen(app).split("\n")[2]

    display, line = drive(db, narrow, size=(60, 20))
    assert not display and line.startswith("▌ How did the library start?")


@pytest.mark.slow
def test_d_shows_the_highlighted_codes_definition_and_criteria(db):
    async def script(app, pilot):
        await pilot.press("j", "d")  # LIB-01:2's suggestion is stock: the tree is on it
        return screen(app)

    text = drive(db, script)
    assert "stock — Book stock" in text and "include: donations" in text
    assert "exclude: digital resources" in text


def test_long_words_and_wide_text_never_break_mid_word():
    from tipqual.tui.layout import wrap

    text = "trafficking " * 9 + "x" * 30 + " end"
    lines = wrap(text, 25)
    assert [text[a:b] for a, b in lines][:3] == ["trafficking trafficking", "trafficking "
                                                 "trafficking", "trafficking trafficking"]
    assert all(len(text[a:b]) <= 25 for a, b in lines)
    assert "x" * 25 in [text[a:b] for a, b in lines]  # only a word longer than a line is cut
    assert wrap("one\n\ntwo", 10) == [(0, 3), (4, 4), (5, 8)]


# --- the command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["missing.db", "--coder", "ann"], "no such study file"),
    (["{db}", "--coder", "ann", "--source", "LIB-09"], "no source 'LIB-09' in the study"),
    (["{db}", "--coder", "ann", "--segment", "LIB-01:99"], "unknown segment 'LIB-01:99'"),
    (["{db}", "--coder", "ann", "--source", "LIB-02", "--segment", "LIB-01:2"],
     "segment 'LIB-01:2' is in source 'LIB-01', not 'LIB-02'"),
    (["{db}", "--coder", "tipqual-rules"], "the coder name 'tipqual-rules' is not allowed"),
    (["{db}", "--coder", "a\x1b[2Jb"], "is not allowed"),
    (["{db}", "--coder", "ann"], "needs a terminal"),  # the runner's stdin is no terminal
])
def test_bad_input_is_one_error_line(runner, db, tmp_path, args, message):
    from tipqual.cli import cli

    result = runner.invoke(cli, ["workbench", *[a.format(db=db) for a in args]])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert message in result.output and "Traceback" not in result.output


def test_help_imports_no_textual():
    probe = ("import sys\nfrom tipqual.cli import main\n"
             "for argv in (['--help'], ['workbench', '--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print('textual' in sys.modules, 'rich' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=REPO, check=True)
    assert "tipqual workbench" in done.stdout and "--blind" in done.stdout
    assert done.stderr.split() == ["False", "False"]


# --- the sample study -----------------------------------------------------------------------------

@pytest.mark.slow
def test_on_the_sample_study(tmp_path):
    if not SAMPLE.is_dir():
        pytest.skip("transcripts_sample/ is not in this checkout")
    study = tmp_path / "tip.db"
    for args in (["init", str(study), "--codebook", str(TIP_CODEBOOK)],
                 ["import", str(study), str(SAMPLE / "transcripts"), "--cases",
                  str(SAMPLE / "cases.csv")],
                 ["code", "import", str(study), str(SAMPLE / "codings" / "coder-a.csv")],
                 ["suggest", str(study)]):
        done = run_tipqual(*args)
        assert done.returncode == 0, done.stderr

    async def script(app, pilot):
        await pilot.press("s")  # the first suggestion for this coder
        decided = (current(app), app.state().pending[app.suggestion].code)
        await pilot.press("a", "j", "c", *"trust", "enter", "n")
        await pilot.pause()
        return decided, screen(app), app.source_id

    (segment, code), seen, source = drive(study, script, coder="T. Mokoena", size=(80, 24))
    got = {(c.segment, c.code, c.status) for c in codings(study, coders=["T. Mokoena"])}
    assert (segment, code, "accepted") in got
    assert any(c == "trust" and s == "human" for _, c, s in got)
    assert source == "CSO-02" and "coder-a: ■" in seen


# --- a real terminal, and two coders at once -----------------------------------------------------

def _tmux() -> str:
    found = shutil.which("tmux")
    if found is None:
        pytest.skip("tmux is not installed: the real-terminal test needs it")
    return found


class Tmux:
    """A tmux server of this test's own (its own socket), ended by the test."""

    def __init__(self, tmux: str):
        self.tmux, self.socket = tmux, f"tipqual-test-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True,
                              text=True, check=True).stdout

    def start(self, name: str, *argv: str) -> None:
        command = " ".join(f"'{a}'" for a in argv)
        self("new-session", "-d", "-s", name, "-x", "100", "-y", "30",
             f"cd '{REPO}' && TERM=xterm-256color {command}; sleep 30")

    def screen(self, name: str) -> str:
        return self("capture-pane", "-p", "-t", name)

    def wait_for(self, name: str, text: str, seconds: float = 20) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = self.screen(name)
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared:\n{self.screen(name)}")

    def keys(self, name: str, *keys: str) -> None:
        for key in keys:
            self("send-keys", "-t", name, key)
            time.sleep(0.05)

    def end(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux():
    server = Tmux(_tmux())
    yield server
    server.end()


def _workbench(db: Path, coder: str, *more: str) -> list[str]:
    return [sys.executable, "-m", "tipqual", "workbench", str(db), "--coder", coder, *more]


@pytest.mark.slow
def test_in_a_real_terminal(tmux, db):
    tmux.start("one", *_workbench(db, "tim", "--source", "LIB-02"))
    first = tmux.wait_for("one", "q quit")
    assert "LIB-02:1  Interviewer" in first and "tim │ LIB-02" in first
    tmux.keys("one", "j", "j")
    tmux.wait_for("one", "segment 3/5")
    tmux.keys("one", "c")
    tmux.wait_for("one", "type a code's id or name")
    tmux.keys("one", "v", "o", "l", "Enter")
    tmux.wait_for("one", "saved: coded LIB-02:3 with volunteers")
    tmux.keys("one", "q")
    tmux.wait_for("one", "tim: 1 action saved in this session")
    assert mine(db, "tim") == {("LIB-02:3", "volunteers", "human")}


@pytest.mark.slow
def test_a_killed_terminal_loses_nothing_shown_as_saved(tmux, db):
    tmux.start("k", *_workbench(db, "kim", "--source", "LIB-02"))
    tmux.wait_for("k", "q quit")
    tmux.keys("k", "j", "c", "v", "o", "l", "Enter")
    tmux.wait_for("k", "saved: coded LIB-02:2 with volunteers")
    tmux.keys("k", "m")  # a memo being typed, not yet saved, when the terminal dies
    pid = int(tmux("list-panes", "-t", "k", "-F", "#{pane_pid}").split()[0])
    workbench = [int(c) for c in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                text=True).stdout.split()]
    assert workbench, "the workbench process was not found under the pane's shell"
    for child in workbench:
        os.kill(child, signal.SIGKILL)
    assert all_gone(set(workbench), 60), "the killed workbench is still running"
    assert mine(db, "kim") == {("LIB-02:2", "volunteers", "human")}
    with Project.open(db) as p:  # the study opens and is whole
        assert p.integrity_check() == "ok"
        assert [e.action for e in p.audit() if e.coder == "kim"] == ["add"]


@pytest.mark.slow
def test_two_workbench_processes_at_once_lose_nothing(tmux, db):
    tmux.start("ann", *_workbench(db, "ann"))
    tmux.start("bea", *_workbench(db, "bea", "--source", "LIB-02"))
    for name in ("ann", "bea"):
        tmux.wait_for(name, "every action is saved at once")
    for _ in range(3):  # turn about, each coding the next segment
        for name, code in (("ann", "stock"), ("bea", "access")):
            tmux.keys(name, "j", "c", *code, "Enter")
    tmux.wait_for("ann", "saved: coded LIB-01:4 with stock")
    tmux.wait_for("bea", "saved: coded LIB-02:4 with access")
    # ann sees bea's codes on the segments they share once the study is read again
    tmux.keys("ann", "n")
    tmux.wait_for("ann", "bea: ■ access")
    for name in ("ann", "bea"):
        tmux.keys(name, "q")
        tmux.wait_for(name, "3 actions saved in this session")
    assert mine(db, "ann") == {(f"LIB-01:{n}", "stock", "human") for n in (2, 3, 4)}
    assert {(s, c, st) for s, c, st in mine(db, "bea") if c == "access"} == {
        (f"LIB-02:{n}", "access", "human") for n in (2, 3, 4)}


@pytest.mark.slow
def test_two_workbenches_in_threads_lose_nothing(db):
    errors: list[BaseException] = []

    def coder(name: str, source: str) -> None:
        async def script(app, pilot):
            for _ in range(3):
                await pilot.press("j", "c", "h", "enter")  # "h": homework, the one match
            await pilot.press("q")

        try:
            drive(db, script, coder=name, source=source)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=coder, args=(n, s))
               for n, s in (("ann", "LIB-01"), ("cai", "LIB-01"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for name in ("ann", "cai"):  # the same segments, each under their own name
        want = {(f"LIB-01:{n}", "homework", "human") for n in (2, 3, 4)}
        assert mine(db, name) == want, name


def test_another_coders_work_shows_up_without_a_restart(db):
    from tipqual.coding.csvio import add_coding

    async def script(app, pilot):
        with Project.open(db, command="code add") as other:
            add_coding(other, "LIB-01:1", "access", "eve")
        app._poll()  # what the timer does every few seconds
        await pilot.pause()
        return screen(app)

    assert "eve: ■ access" in drive(db, script)
