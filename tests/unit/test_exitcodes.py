from ocf_openstack.ocf import log
from ocf_openstack.ocf.exitcodes import OCFError, OCFExit


def test_codes_match_the_ocf_spec():
    assert {c.name: int(c) for c in OCFExit} == {
        "SUCCESS": 0, "ERR_GENERIC": 1, "ERR_ARGS": 2, "ERR_UNIMPLEMENTED": 3,
        "ERR_PERM": 4, "ERR_INSTALLED": 5, "ERR_CONFIGURED": 6, "NOT_RUNNING": 7,
        "DEGRADED": 190,   # Pacemaker's OCF_DEGRADED (2.0.5 and later)
    }


def test_codes_match_ocf_py(ocf_lib):
    ocf = log.load_ocf({})
    for code in OCFExit:
        if code == OCFExit.DEGRADED:
            assert not hasattr(ocf, "OCF_DEGRADED") or ocf.OCF_DEGRADED == 190   # ocf.py knows 0-9 only
            continue
        name = "OCF_" + code.name
        assert getattr(ocf, name) == code, name


def test_error_carries_code_and_reason():
    err = OCFError(OCFExit.ERR_CONFIGURED, "parameter x is wrong")
    assert err.code == 6 and err.reason == "parameter x is wrong" and str(err) == "parameter x is wrong"
