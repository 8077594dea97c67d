import os

from ocf_openstack import privatefile


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


def test_remove_is_quiet_and_leaves_directories(tmp_path):
    (tmp_path / "dir").mkdir()
    privatefile.remove(str(tmp_path / "missing"))
    privatefile.remove(str(tmp_path / "dir"))
    assert (tmp_path / "dir").is_dir()
