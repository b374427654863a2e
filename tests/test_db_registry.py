"""Data registry: identity, photometry status state machine, publishing and lineage."""

from __future__ import annotations

import shutil
import threading

import pytest

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import DataRegistry
from dsa110_contimg.database.registry import (
    InvalidTransitionError,
    UnknownDataError,
    finalize_data,
    get_data,
    get_data_lineage,
    get_photometry_status,
    image_times,
    link_data,
    link_photometry_to_data,
    not_ready_reason,
    register_data,
    trigger_auto_publish,
    unlinked_images,
    update_photometry_status,
)
from dsa110_contimg.database.session import session_scope


def _complete(data_id: str, url: str) -> None:
    for status in ("pending", "running"):
        update_photometry_status(data_id, status, url=url)
    update_photometry_status(data_id, "completed", n_measured=5, url=url)


def test_register_is_idempotent_and_ids_are_readable(sim_field, db_url, tmp_path):
    _, epochs, _ = sim_field
    first = register_data(epochs[0], "image", url=db_url)
    assert first == register_data(epochs[0], "image", url=db_url)
    assert first.startswith("image-20260305T100000-")  # DATE-OBS, not the file time
    assert register_data(epochs[1], "image", url=db_url) != first
    # Another file with the same name and observation start gets its own, stable, id.
    twin = tmp_path / "elsewhere" / epochs[0].name
    twin.parent.mkdir()
    shutil.copy(epochs[0], twin)
    second = register_data(twin, url=db_url)
    assert second != first and second.startswith("image-20260305T100000-")
    assert register_data(twin, url=db_url) == second
    with pytest.raises(ValueError, match="data_type"):
        register_data(epochs[0], "cube", url=db_url)


def test_photometry_status_transitions(sim_field, db_url):
    data_id = register_data(sim_field[1][0], url=db_url)
    assert get_photometry_status(data_id, url=db_url).status is None
    with pytest.raises(InvalidTransitionError, match="cannot go from None to 'running'"):
        update_photometry_status(data_id, "running", url=db_url)
    update_photometry_status(data_id, "pending", job_id=3, url=db_url)
    update_photometry_status(data_id, "running", url=db_url)
    with pytest.raises(InvalidTransitionError, match="needs a reason"):
        update_photometry_status(data_id, "failed", url=db_url)
    status = update_photometry_status(
        data_id, "failed", error="corrupt FITS: bad header", url=db_url
    )
    assert status.terminal and status.error == "corrupt FITS: bad header"
    assert get_photometry_status(data_id, url=db_url).job_id == 3
    with pytest.raises(InvalidTransitionError, match="from 'failed' to 'completed'"):
        update_photometry_status(data_id, "completed", url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)  # retry after a fix
    assert get_photometry_status(data_id, url=db_url).error is None
    update_photometry_status(data_id, "running", url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)  # lease expired
    update_photometry_status(data_id, "running", url=db_url)
    status = update_photometry_status(data_id, "completed", n_measured=20, n_failed=1, url=db_url)
    assert (status.status, status.error, status.n_measured, status.n_failed) == (
        "completed",
        None,
        20,
        1,
    )
    with pytest.raises(InvalidTransitionError):
        update_photometry_status(data_id, "running", url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)  # reprocess
    update_photometry_status(data_id, "failed", error="job 4 cancelled", url=db_url)
    link_photometry_to_data(data_id, 11, url=db_url)
    assert get_photometry_status(data_id, url=db_url).job_id == 11
    with pytest.raises(UnknownDataError):
        get_photometry_status("image-unknown", url=db_url)
    with pytest.raises(UnknownDataError):
        update_photometry_status("image-unknown", "pending", url=db_url)


def test_concurrent_status_changes_apply_once(sim_field, db_url):
    """Workers racing to fail one running product: exactly one transition is applied."""
    data_id = register_data(sim_field[1][0], url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)
    update_photometry_status(data_id, "running", url=db_url)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def fail(worker: int) -> None:
        barrier.wait()
        try:
            update_photometry_status(data_id, "failed", error=f"worker {worker}", url=db_url)
            outcomes.append("applied")
        except InvalidTransitionError:
            outcomes.append("refused")

    threads = [threading.Thread(target=fail, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["applied"] + ["refused"] * 5
    assert get_photometry_status(data_id, url=db_url).error.startswith("worker ")


def test_publish_waits_for_terminal_photometry(sim_field, db_url, isolated_settings):
    epochs = sim_field[1]
    data_id = register_data(epochs[0], url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)
    assert not finalize_data(data_id, url=db_url)
    assert trigger_auto_publish(data_id, url=db_url) is None
    assert epochs[0].exists()
    target = trigger_auto_publish(data_id, url=db_url, wait_for_photometry=False)
    assert target == isolated_settings.publish.published_dir / epochs[0].name
    assert target.is_file() and not epochs[0].exists()
    assert trigger_auto_publish(data_id, url=db_url) == target  # already published

    other = register_data(epochs[1], url=db_url)
    _complete(other, db_url)
    assert finalize_data(other, url=db_url)
    target = trigger_auto_publish(other, url=db_url)
    assert target.is_file() and not epochs[1].exists()
    # Publishing changes the path, never the identity.
    assert register_data(target, url=db_url) == other
    with session_scope(db_url) as session:
        record = session.query(DataRegistry).filter_by(data_id=other).one()
        assert (record.status, record.published_path, record.finalization_status) == (
            "published",
            str(target),
            "finalized",
        )


def test_publish_refuses_overwrite_and_respects_settings(sim_field, db_url, monkeypatch):
    epochs = sim_field[1]
    data_id = register_data(epochs[2], url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)
    monkeypatch.setenv("CONTIMG_PUBLISH__WAIT_FOR_PHOTOMETRY", "false")
    get_settings.cache_clear()
    occupied = get_settings().publish.published_dir / epochs[2].name
    occupied.parent.mkdir(parents=True)
    occupied.write_bytes(b"another product")
    with pytest.raises(FileExistsError, match="not overwritten"):
        trigger_auto_publish(data_id, url=db_url)
    assert epochs[2].is_file() and occupied.read_bytes() == b"another product"
    with session_scope(db_url) as session:
        record = session.query(DataRegistry).filter_by(data_id=data_id).one()
        assert record.status == "staging"
        record.auto_publish_enabled = 0
    assert trigger_auto_publish(data_id, occupied.parent / "other", url=db_url) is None
    with session_scope(db_url) as session:
        session.query(DataRegistry).filter_by(data_id=data_id).one().auto_publish_enabled = 1
    target = trigger_auto_publish(data_id, occupied.parent / "other", url=db_url)
    assert target.is_file()  # photometry still pending: allowed by the setting


def test_finalize_requires_qa_and_validation(sim_field, db_url):
    data_id = register_data(sim_field[1][0], url=db_url)
    with session_scope(db_url) as session:
        session.query(DataRegistry).filter_by(data_id=data_id).one().qa_status = "failed"
    assert not finalize_data(data_id, url=db_url)
    with session_scope(db_url) as session:
        record = session.query(DataRegistry).filter_by(data_id=data_id).one()
        record.qa_status, record.validation_status = "passed", "invalid"
    assert not finalize_data(data_id, url=db_url)
    with session_scope(db_url) as session:
        session.query(DataRegistry).filter_by(data_id=data_id).one().validation_status = "valid"
    # Photometry never requested: not finalized without it, unless photometry is disabled.
    assert not finalize_data(data_id, url=db_url)
    assert not_ready_reason(data_id, url=db_url) == "its photometry was never requested"
    assert finalize_data(data_id, photometry_enabled=False, url=db_url)


def test_lineage(sim_field, db_url):
    epochs = sim_field[1]
    parents = [register_data(p, url=db_url) for p in epochs[:2]]
    child = register_data(epochs[2], "mosaic", url=db_url)
    for parent in parents:
        link_data(parent, child, "mosaic_input", url=db_url)
        link_data(parent, child, "mosaic_input", url=db_url)
    lineage = get_data_lineage(child, url=db_url)
    assert sorted(p["data_id"] for p in lineage["parents"]) == sorted(parents)
    assert lineage["children"] == []
    assert get_data_lineage(parents[0], url=db_url)["children"] == [
        {"data_id": child, "relationship": "mosaic_input"}
    ]
    with pytest.raises(UnknownDataError):
        link_data(parents[0], "mosaic-missing", url=db_url)


def test_status_change_joins_a_callers_transaction(sim_field, db_url):
    """Queueing a job and marking its product pending commit together or not at all."""
    data_id = register_data(sim_field[1][0], url=db_url)
    with pytest.raises(RuntimeError, match="job creation failed"):
        with session_scope(db_url) as session:
            update_photometry_status(data_id, "pending", job_id=7, session=session)
            raise RuntimeError("job creation failed")
    assert get_photometry_status(data_id, url=db_url).status is None
    with session_scope(db_url) as session:
        update_photometry_status(data_id, "pending", job_id=7, session=session)
    assert get_photometry_status(data_id, url=db_url).job_id == 7


def test_unlinked_images_and_image_times(sim_field, db_url):
    ids = [register_data(p, url=db_url) for p in sim_field[1][:3]]
    link_data(ids[0], ids[2], "mosaic_input", url=db_url)
    unlinked = [r["data_id"] for r in unlinked_images("mosaic_input", url=db_url)]
    assert ids[0] not in unlinked and ids[1] in unlinked and ids[2] in unlinked
    assert [r["data_id"] for r in unlinked_images("other", url=db_url)] == sorted(
        ids, key=lambda d: get_data(d, url=db_url)["mjd_mid"]
    )
    times = image_times(0.0, url=db_url)
    assert len(times) == 3 and all(-90 <= dec <= 90 for dec, _ in times)
    assert image_times(max(mjd for _, mjd in times) + 1.0, url=db_url) == []
