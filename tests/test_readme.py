"""The README's walkthrough stays true: it names study names, the map's configuration and the
statuses a user needs, and every command it shows is a real command with real options."""

from __future__ import annotations

import re

import click
import pytest
import yaml

from tests.helpers import REPO
from tipqual.cli import cli
from tipqual.codebook.model import MAP_KEYS

README = REPO / "README.md"


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _text(), flags=re.S)


def _commands() -> list[str]:
    """The ``tipqual …`` lines of the README's shell blocks, without their comments."""
    return [line.split("  #")[0].strip() for block in _blocks("sh")
            for line in block.splitlines() if line.strip().startswith("tipqual ")]


def _section(title: str) -> str:
    text = _text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def test_the_walkthrough_names_the_study_and_shows_how_to_rename_it() -> None:
    walk = _section("A study, step by step")
    assert re.search(r"^tipqual init \S+ --codebook \S+ --name \"[^\"]+\"", walk, flags=re.M)
    assert re.search(r"^tipqual set \S+ --name \"[^\"]+\"", walk, flags=re.M)
    assert 'The study\'s name is the report\'s title ("Findings: NAME")' in walk


def test_the_walkthrough_shows_the_maps_configuration() -> None:
    walk = _section("A study, step by step")
    [block] = [b for b in _blocks("yaml") if b.startswith("map:")]
    section = yaml.safe_load(block)["map"]
    assert set(section) <= set(MAP_KEYS) and "axis_codes" in section
    assert section["axis_codes"]  # the codes the height counts
    for option in ("--map-codes", "--map-label", "--map-centre"):
        assert option in walk
    network = next(c for c in _commands() if c.startswith("tipqual network "))
    report = [c for c in _commands() if c.startswith("tipqual report ")]
    assert "--figure" in network and any("--map-codes" in c for c in report)


def test_the_map_section_of_the_walkthrough_is_a_valid_codebook_section(tmp_path) -> None:
    """The README's ``map:`` block, put in place of the shipped TIP codebook's own, loads."""
    import shutil

    from tests.helpers import TIP_CODEBOOK
    from tipqual.codebook import model as codebook

    [block] = [b for b in _blocks("yaml") if b.startswith("map:")]
    text = TIP_CODEBOOK.read_text(encoding="utf-8")
    assert re.search(r"^map:\n", text, flags=re.M)
    text = re.sub(r"^map:\n(?:[ \t]+.*\n)*", "", text, flags=re.M) + "\n" + block
    registry = re.search(r"^stakeholders: (\S+)$", text, flags=re.M)
    if registry:  # the registry file is named relative to the codebook
        shutil.copy(TIP_CODEBOOK.parent / registry.group(1), tmp_path / registry.group(1))
    path = tmp_path / "readme-map.yaml"
    path.write_text(text, encoding="utf-8")
    book = codebook.load(path)
    assert book.map is not None
    assert book.map.axis_codes == yaml.safe_load(block)["map"]["axis_codes"]


def test_the_walkthrough_says_which_statuses_count() -> None:
    walk = _section("A study, step by step")
    export = next(c for c in _commands() if c.startswith("tipqual code export "))
    assert "--status" in export and "all" in export
    assert "`--status human,accepted`, the default" in walk
    assert "`--status all`" in walk
    assert "`--status` chooses which codings count" in walk


@pytest.mark.parametrize("line", _commands())
def test_every_command_shown_is_real_with_real_options(line: str) -> None:
    ctx = click.Context(cli)
    words = re.findall(r"--[a-z][a-z-]*|\S+", re.sub(r"[\[\]|]", " ", line))
    command = cli.get_command(ctx, words[1])
    assert command is not None, line
    if isinstance(command, click.Group):
        sub = command.get_command(ctx, words[2])
        assert sub is not None, line
        command = sub
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    unknown = [w for w in words if w.startswith("--") and w not in known]
    assert not unknown, (line, unknown)


def test_the_help_shows_a_typical_session_that_names_the_study(runner) -> None:
    text = runner.invoke(cli, ["--help"]).output
    session = text[text.index("A typical session:"):]
    assert re.search(r"tipqual init \S+ --codebook \S+ --name ", session)
    for step in ("tipqual import ", "tipqual suggest ", "tipqual review ", "tipqual report "):
        assert step in session
