"""Container records: names taken once, Docker's lookup order and messages, state rules."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_db.database import open_database
from pyd_dockerd.container import names
from pyd_dockerd.container.container import Container
from pyd_dockerd.container.state import State, Status, human_duration
from pyd_dockerd.store.containers import ContainerStore
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


def _store(engine: Engine, tmp_path: Path) -> ContainerStore:
    return ContainerStore(engine, str(tmp_path / "containers"))


def test_name_taken_once(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    first = store.create(Container(id="", name="web", image="sha256:aa"))
    with pytest.raises(AlreadyExists) as err:
        store.create(Container(id="", name="/web"))
    assert str(err.value) == (
        f'Conflict. The container name "/web" is already in use by container "{first.id}". '
        "You have to remove (or rename) that container to be able to reuse that name.")
    store.delete(first.id)
    store.create(Container(id="", name="web"))


def test_name_taken_once_under_concurrent_creates(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    wins: list[str] = []
    losses: list[Exception] = []

    def create() -> None:
        try:
            wins.append(store.create(Container(id="", name="racer")).id)
        except AlreadyExists as e:
            losses.append(e)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(wins) == 1 and len(losses) == 7


def test_name_stays_reserved_after_reopening_database(tmp_path: Path) -> None:
    eng = open_database(tmp_path / "pyd.db", "dockerd")
    cid = _store(eng, tmp_path).create(Container(id="", name="keeper")).id
    eng.dispose()
    eng = open_database(tmp_path / "pyd.db", "dockerd")
    try:
        with pytest.raises(AlreadyExists, match=cid):
            _store(eng, tmp_path).create(Container(id="", name="keeper"))
    finally:
        eng.dispose()


def test_invalid_name_is_refused_with_dockers_message(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        _store(engine, tmp_path).create(Container(id="", name="-bad name"))
    assert str(err.value) == ("Invalid container name (-bad name), only "
                              "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    with pytest.raises(InvalidArgument):
        names.validate_name("a")  # Docker needs two characters at least
    assert names.validate_name("/a.b-c_d") == "a.b-c_d"


def test_generated_names_are_adjective_surname_and_unique(engine: Engine,
                                                          tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    made = {store.create(Container(id="", name="")).name for _ in range(30)}
    assert len(made) == 30
    for n in made:
        assert names.VALID_NAME.match(n) and "_" in n


def test_lookup_by_full_id_name_and_unique_prefix(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    a = store.create(Container(id="abc1" + "0" * 60, name="alpha"))
    b = store.create(Container(id="abc2" + "0" * 60, name="beta"))
    assert store.get(a.id).name == "alpha"
    assert store.get("/beta").id == b.id and store.get("beta").id == b.id
    assert store.get("abc1").id == a.id
    with pytest.raises(InvalidArgument, match="multiple IDs found with provided prefix: abc"):
        store.get("abc")
    with pytest.raises(NotFound, match=r"^No such container: nothere$"):
        store.get("nothere")
    assert store.get(a.id).root == str(tmp_path / "containers" / a.id)


def test_name_wins_over_id_prefix(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    store.create(Container(id="beef" + "1" * 60, name="other"))
    named = store.create(Container(id="", name="beef"))
    assert store.get("beef").id == named.id


def test_rename_rules(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    a = store.create(Container(id="", name="one"))
    store.create(Container(id="", name="two"))
    with pytest.raises(AlreadyExists, match="Error when allocating new name: Conflict"):
        store.rename("one", "two")
    with pytest.raises(InvalidArgument, match="same name"):
        store.rename("one", "one")
    store.rename("one", "three")
    assert store.get("three").id == a.id
    store.create(Container(id="", name="one"))  # the old name is free again


def test_state_round_trips_and_is_saved(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    c = store.create(Container(id="", name="st", config={"Image": "busybox"}))
    c.state.set_running(4242, 999)
    c.state.lazy_restore = {"Address": "pyd://a:1/x", "Status": "running"}
    c.network_settings = {"IPAddress": "172.17.0.2"}
    c.restart_count = 3
    store.save(c)
    got = store.get(c.id)
    assert got.state.status is Status.RUNNING and got.state.pid == 4242
    assert got.state.pid_start_time == 999
    assert got.state.to_dict()["LazyRestore"]["Address"] == "pyd://a:1/x"
    assert got.network_settings["IPAddress"] == "172.17.0.2" and got.restart_count == 3
    assert got.to_inspect()["Name"] == "/st"
    assert got.to_inspect()["State"]["Running"] is True


def test_status_rules_follow_docker() -> None:
    assert Status.CREATED.can_start() and Status.EXITED.can_start()
    assert not Status.RUNNING.can_start() and not Status.PAUSED.can_start()
    assert Status.RUNNING.can_remove(force=True) and not Status.RUNNING.can_remove()
    assert not Status.REMOVING.can_remove(force=True)
    assert Status.PAUSED.can_unpause() and not Status.RUNNING.can_unpause()
    assert Status.PAUSED.is_running() and not Status.EXITED.is_running()


def test_state_machine_messages() -> None:
    c = Container(id="f" * 64, name="web")
    c.state.set_running(1)
    with pytest.raises(FailedPrecondition, match='cannot remove container "/web": container '
                       "is running: stop the container before removing or force remove"):
        c.check_can_remove(force=False)
    c.check_can_remove(force=True)
    c.state.set_paused()
    with pytest.raises(FailedPrecondition, match="unpause"):
        c.check_can_start()
    c.state.set_unpaused()
    c.state.set_stopped(137)
    c.check_can_start()
    with pytest.raises(FailedPrecondition, match="is not running"):
        c.check_can_exec()


def test_human_status_matches_ps() -> None:
    s = State()
    assert s.human_status() == "Created"
    s.set_running(1)
    assert s.human_status().startswith("Up ")
    s.set_stopped(3)
    assert s.human_status().startswith("Exited (3) ")
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(90) == "About a minute"
    assert human_duration(3 * 3600) == "3 hours"
