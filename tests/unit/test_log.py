import logging
import sys
from types import SimpleNamespace

import pytest
from ocf_openstack.ocf import log
from ocf_openstack.ocf.log import REDACTED, OCFLibraryMissing, Reporter


class FakeOCF:
    """Just what Reporter uses of ocf.py."""

    def __init__(self):
        self.log = logging.getLogger("fake-ocf-agent")
        self.handler = logging.Handler()
        self.log.handlers = [self.handler]
        self.logged = []
        self.reasons = []
        self.logger = SimpleNamespace(log=lambda level, msg: self.logged.append((level, msg)))

    def ocf_exit_reason(self, msg):
        self.reasons.append(msg)


@pytest.mark.parametrize("ha_debug, level", [("0", logging.INFO), ("", logging.INFO),
                                             ("1", logging.DEBUG), ("yes", logging.DEBUG)])
def test_handler_levels_follow_ha_debug(ha_debug, level):
    fake = FakeOCF()
    Reporter({"HA_debug": ha_debug}, ocf=fake)
    assert fake.handler.level == level


def test_redaction_in_logs_and_exit_reasons():
    fake = FakeOCF()
    report = Reporter({"OCF_RESOURCE_INSTANCE": "ks", "HA_debug": "1"}, ocf=fake)
    report.hide(["pa55", ""])
    report.info("login pa55 failed")
    report.debug("x pa55 y pa55")
    report.exit_reason("bad password pa55")
    assert fake.logged == [(logging.INFO, f"ks: login {REDACTED} failed"),
                           (logging.DEBUG, f"ks: x {REDACTED} y {REDACTED}")]
    assert fake.reasons == [f"bad password {REDACTED}"]


def test_debug_lines_only_with_ha_debug():
    fake = FakeOCF()
    report = Reporter({"HA_debug": "0"}, ocf=fake)
    report.debug("quiet")
    report.info("said")
    assert fake.logged == [(logging.INFO, "said")]


def test_empty_secret_redacts_nothing():
    report = Reporter({}, ocf=FakeOCF())
    report.hide([""])
    assert report.redact("abc") == "abc"


def test_library_dirs_order():
    dirs = log.ocf_library_dirs({"OCF_FUNCTIONS_DIR": "/a", "OCF_ROOT": "/b"})
    assert dirs == ["/a", "/b/lib/heartbeat", "/usr/lib/ocf/lib/heartbeat"]
    assert log.ocf_library_dirs({}) == ["/usr/lib/ocf/lib/heartbeat"]


def test_load_ocf_missing(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "ocf", raising=False)
    monkeypatch.setattr(log, "DEFAULT_OCF_ROOT", str(tmp_path))
    with pytest.raises(OCFLibraryMissing) as err:
        log.load_ocf({"OCF_ROOT": str(tmp_path), "OCF_FUNCTIONS_DIR": str(tmp_path)})
    assert str(tmp_path) in str(err.value)
    assert "ocf" not in sys.modules


def test_load_ocf_from_functions_dir(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "ocf", raising=False)
    (tmp_path / "ocf.py").write_text("MARK = 'tmp copy'\n")
    try:
        module = log.load_ocf({"OCF_FUNCTIONS_DIR": str(tmp_path)})
        assert module.MARK == "tmp copy"
        assert str(tmp_path) not in sys.path
    finally:
        sys.modules.pop("ocf", None)  # not the real one: forget it (monkeypatch restores the real)
