import os

import pytest
from ocf_openstack.host import privatefile


def test_write_then_read_is_root_only(tmp_path):
    path = str(tmp_path / "sub" / "file")
    privatefile.write(path, "secret")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert privatefile.read(path) == "secret"
    assert os.listdir(tmp_path / "sub") == ["file"]  # no temp file left behind


def test_read_ignores_a_file_others_may_read(tmp_path):
    path = str(tmp_path / "file")
    privatefile.write(path, "secret")
    os.chmod(path, 0o604)
    assert privatefile.read(path) is None


def test_read_never_follows_a_symlink(tmp_path):
    target = tmp_path / "target"
    privatefile.write(str(target), "planted")
    os.symlink(target, tmp_path / "link")
    assert privatefile.read(str(tmp_path / "link")) is None


def test_read_ignores_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo", 0o600)
    (tmp_path / "dir").mkdir(mode=0o700)
    assert privatefile.read(str(tmp_path / "fifo")) is None  # and does not block on it
    assert privatefile.read(str(tmp_path / "dir")) is None
    assert privatefile.read(str(tmp_path / "missing")) is None


def test_read_ignores_an_oversized_file(tmp_path):
    path = str(tmp_path / "file")
    privatefile.write(path, "x" * (privatefile.MAX_SIZE + 1))
    assert privatefile.read(path) is None


def test_write_replaces_a_symlink_without_writing_through(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    os.symlink(target, tmp_path / "file")
    privatefile.write(str(tmp_path / "file"), "new")
    assert target.read_text() == "keep" and privatefile.read(str(tmp_path / "file")) == "new"


def test_remove_deletes_the_file(tmp_path):
    path = tmp_path / "d.pid"
    path.write_text("1\n")
    privatefile.remove(str(path))
    assert not path.exists()
    privatefile.remove(str(path))  # already gone: no error


def test_remove_is_quiet_and_leaves_directories(tmp_path):
    (tmp_path / "dir").mkdir()
    privatefile.remove(str(tmp_path / "missing"))
    privatefile.remove(str(tmp_path / "dir"))
    assert (tmp_path / "dir").is_dir()


def test_write_never_writes_through_a_symlink_at_the_temp_name(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)  # someone guessed the temp name
    path = tmp_path / "file"
    os.symlink(victim, f"{path}.{'00' * 6}.tmp")
    with pytest.raises(OSError):
        privatefile.write(str(path), "new")
    assert victim.read_text() == "precious" and not path.exists()


def test_read_ignores_a_hard_link_to_another_root_only_file(tmp_path):
    other = tmp_path / "shadow-like"
    privatefile.write(str(other), "someone else's secret")
    os.link(other, tmp_path / "file")
    assert privatefile.read(str(tmp_path / "file")) is None
