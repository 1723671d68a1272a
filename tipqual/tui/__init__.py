"""The coding workbench: a full-screen terminal application (Textual) for reading and coding.

:mod:`~tipqual.tui.session` holds what a coder does (code, remove, decide, memo, undo, filter),
with no screen; :mod:`~tipqual.tui.layout` turns a source's segments into the lines the
transcript shows (and the word selection of span coding); :mod:`~tipqual.tui.widgets`,
:mod:`~tipqual.tui.screens` and :mod:`~tipqual.tui.keys` are the Textual parts, put together by
:mod:`~tipqual.tui.app`. Only this package (and the ``workbench``
command's function) imports Textual, so ``tipqual --help`` never loads it.
"""
