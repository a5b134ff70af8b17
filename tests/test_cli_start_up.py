"""Collections paused while a `checkin` process starts (``bot.cli.start_up``): always back on for the command."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main, start_up
from tests.test_cli_validate import GOOD


@pytest.fixture
def own_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test process as ``main``'s own for one test; what the pauses froze is unfrozen after it."""
    monkeypatch.setattr(start_up, "_own_process", False)
    start_up.own_process()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def test_a_pause_turns_collections_off_for_its_block_and_freezes_what_it_built(own_process: None) -> None:
    gc.unfreeze()
    with start_up.collections_paused():
        assert not gc.isenabled()
        built = [[n] for n in range(100)]
    assert gc.isenabled()
    assert gc.get_freeze_count() > len(built)


def test_collections_come_back_on_when_the_block_fails(own_process: None) -> None:
    with pytest.raises(RuntimeError), start_up.collections_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_a_pause_inside_a_pause_leaves_collections_off_until_the_outer_one_ends(own_process: None) -> None:
    with start_up.collections_paused():
        with start_up.collections_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_in_a_process_that_goes_on_after_the_command_nothing_is_paused_or_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(start_up, "_own_process", False)
    frozen = gc.get_freeze_count()
    with start_up.collections_paused():
        assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_the_entry_point_runs_a_command_with_collections_on(
    own_process: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.yaml").write_text(GOOD, encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["checkin", "validate", str(tmp_path / "config.yaml")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    assert "OK" in capsys.readouterr().out
    assert gc.isenabled()
