"""The one narrator: each step prints its name, its result and its elapsed time, once."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from infra.sandbox.narrate import Narrator, details_to

pytestmark = pytest.mark.unit


def _console() -> Console:
    return Console(record=True, width=200, force_terminal=False)


def test_a_step_prints_one_result_line_with_its_time() -> None:
    console = _console()
    narrator = Narrator(console, "paas")
    with narrator.step("bundle", "building the source bundle") as step:
        step.progress("zipping 41 files")  # spinner only
        step.result("shipways-3f2a.zip: 41 files")
    lines = console.export_text().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"paas bundle\s+shipways-3f2a\.zip: 41 files  \(\d+\.\ds\)", lines[0])


def test_notes_stay_under_the_step_and_a_step_without_result_says_done() -> None:
    console = _console()
    narrator = Narrator(console, "vps")
    with narrator.step("provision", "provisioning") as step:
        step.note("apt-get install nginx [markup stays text]")
    text = console.export_text()
    assert "  apt-get install nginx [markup stays text]\n" in text
    assert re.search(r"^vps provision\s+done  \(\d+\.\ds\)$", text, re.MULTILINE)


def test_a_failing_step_says_so_and_lets_the_error_through() -> None:
    console = _console()
    narrator = Narrator(console, "k8s")
    with pytest.raises(RuntimeError, match="job failed"), narrator.step("job", "migrating"):
        raise RuntimeError("job failed")
    assert re.fullmatch(r"k8s job\s+failed after \d+\.\ds\n", console.export_text())


def test_say_is_one_line_in_the_same_shape() -> None:
    console = _console()
    Narrator(console, "serverless").say("rollback", "serving abc again")
    assert re.fullmatch(r"serverless rollback\s+serving abc again\n", console.export_text())


def test_step_elapsed_grows() -> None:
    narrator = Narrator(_console(), "paas")
    with narrator.step("x", "y") as step:
        first = step.elapsed
        assert step.elapsed >= first >= 0


def test_in_the_main_job_a_long_result_is_cut_to_the_screen_and_kept_whole_in_the_log() -> None:
    screen = Console(record=True, width=60, force_terminal=False)
    log = Console(record=True, width=500, force_terminal=False)
    whole = "shipways-serverless-v3-0, shipways-serverless-v3-1, shipways-serverless-v3-2"
    with details_to(log), Narrator(screen, "serverless").step("publish", "publishing") as step:
        step.result(whole)
    shown = screen.export_text().splitlines()
    assert len(shown) == 1 and len(shown[0]) <= 60
    assert re.search(r"…  \(\d+\.\ds\)$", shown[0])  # the time survives the cut
    assert whole in log.export_text()


def test_outside_the_main_job_nothing_is_cut() -> None:
    screen = Console(record=True, width=60, force_terminal=False)
    Narrator(screen, "vps").say("deploy", "x" * 80)
    assert "x" * 80 in screen.export_text().replace("\n", "")
