"""Release state: kept releases, the rollback target, pruning, and a state file that is
replaced whole and changed under a lock."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from infra.sandbox import releases
from infra.sandbox.releases import History, NoSuchRelease, Release, StateFile, atomic_write

pytestmark = pytest.mark.unit


class Build(Release):
    image: str = ""


def _history(*ids: str, current: str | None = None) -> History[Build]:
    history: History[Build] = History()
    for release_id in ids:
        history.record(Build(id=release_id, image=f"img:{release_id}"))
    if current is not None:
        history.current = current
    return history


def test_recording_makes_a_release_the_newest_and_current() -> None:
    history = _history("v1", "v2")
    assert [r.id for r in history.releases] == ["v1", "v2"] and history.current == "v2"
    history.record(Build(id="v1"))  # the same release again moves to the end
    assert [r.id for r in history.releases] == ["v2", "v1"] and history.current == "v1"


def test_find_takes_an_exact_id_or_an_unambiguous_prefix() -> None:
    history = _history("abc123", "abd456", "v1", "v10")
    assert history.find("abc")
    assert history.find("abc") == history.releases[0]
    assert history.find("ab") is None  # two match
    assert history.find("v1") == history.releases[2]  # exact wins over the prefix of v10
    assert history.find("zzz") is None


@pytest.mark.parametrize(
    ("ids", "current", "expected"),
    [
        (("v1", "v2", "v3"), "v3", "v2"),
        (("v1", "v2", "v3"), "v2", "v1"),  # after a rollback, roll back further
        (("v1", "v2", "v3"), "v1", None),
        (("v1",), "v1", None),
        ((), None, None),
        (("v1", "v2"), "gone", None),
    ],
)
def test_previous_is_the_release_kept_before_the_current_one(
    ids: tuple[str, ...], current: str | None, expected: str | None
) -> None:
    history = _history(*ids, current=current)
    previous = history.previous()
    assert (previous.id if previous else None) == expected


def test_rollback_target_names_what_is_kept_when_there_is_none() -> None:
    history = _history("v1", "v2", current="v1")
    with pytest.raises(NoSuchRelease, match=r"no earlier release to roll back to \(kept: v1, v2\)"):
        history.rollback_target(None)
    with pytest.raises(NoSuchRelease, match=r"release 'v9' is not kept; kept releases: v1, v2"):
        history.rollback_target("v9")
    assert history.rollback_target("v2").id == "v2"
    assert _history("v1", "v2").rollback_target(None).id == "v1"
    with pytest.raises(NoSuchRelease, match=r"kept: none"):
        _history().rollback_target(None)


def test_prune_keeps_the_newest_n_and_returns_the_dropped() -> None:
    history = _history("v1", "v2", "v3", "v4")
    dropped = history.prune(2)
    assert [r.id for r in dropped] == ["v1", "v2"]
    assert [r.id for r in history.releases] == ["v3", "v4"]
    assert history.prune(2) == []


def test_prune_never_drops_the_serving_release() -> None:
    history = _history("v1", "v2", "v3", "v4", current="v1")  # rolled back far
    dropped = history.prune(2)
    assert [r.id for r in history.releases] == ["v1", "v4"]
    assert [r.id for r in dropped] == ["v2", "v3"]
    assert history.serving() is not None and history.serving() == history.releases[0]


class Counter(BaseModel):
    count: int = 0


def test_state_file_starts_fresh_and_round_trips(tmp_path: Path) -> None:
    store = StateFile(tmp_path / "nested" / "state.json", Counter, lock="unit-counter")
    assert store.load() == Counter()
    store.save(Counter(count=3))
    assert store.load() == Counter(count=3)
    assert json.loads(store.path.read_text()) == {"count": 3}


def test_history_subclasses_round_trip_with_their_fields(tmp_path: Path) -> None:
    class State(History[Build]):
        stack: str | None = None

    store = StateFile(tmp_path / "state.json", State, lock="unit-history")
    state = store.load()
    state.record(Build(id="v1", image="img:1"))
    state.stack = "serverless"
    store.save(state)
    loaded = store.load()
    assert loaded.stack == "serverless" and loaded.serving() == Build.model_validate(
        state.releases[0].model_dump()
    )


def test_atomic_write_leaves_no_scratch_and_a_private_file(tmp_path: Path) -> None:
    target = tmp_path / "access.json"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["access.json"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_keeps_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, "old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(releases.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def _add_one(path: str, times: int) -> None:
    store = StateFile(Path(path), Counter, lock="unit-counter-race")
    for _ in range(times):
        with store.locked() as state:
            state.count += 1
            store.save(state)


def test_locked_updates_from_concurrent_processes_are_never_lost(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_one, args=(str(path), 25)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert StateFile(path, Counter, lock="unit-counter-race").load().count == 75
