"""tests/setup/durations.py: the suite's time per directory and module, from JUnit XML."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "setup" / "durations.py"
spec = importlib.util.spec_from_file_location("durations", SCRIPT)
durations = importlib.util.module_from_spec(spec)
spec.loader.exec_module(durations)

XML = """<testsuites><testsuite name="pytest">
<testcase classname="tests.lab.test_group_drills" name="test_1" time="100.5"/>
<testcase classname="tests.lab.test_group_drills" name="test_2" time="20"/>
<testcase classname="tests.lab.test_key_drills.TestKeys" name="test_k" time="30"/>
<testcase classname="tests.unit.test_log" name="test_l" time="1.5"/>
</testsuite></testsuites>"""


def test_time_is_summed_per_module_and_directory_largest_first():
    modules = durations.module_times(XML)
    assert modules == {"tests/lab/test_group_drills.py": 120.5, "tests/lab/test_key_drills.py": 30.0,
                       "tests/unit/test_log.py": 1.5}
    assert durations.directory_times(modules) == [("tests/lab", 150.5), ("tests/unit", 1.5)]
    text = durations.report(XML)
    assert text.splitlines()[0] == "where the time went (pytest, 152s in all):"
    assert "tests/lab/test_group_drills.py" in text.splitlines()[4]


def test_the_closing_line_counts_failures_errors_and_skips():
    xml = """<testsuites><testsuite>
    <testcase classname="tests.a" name="ok" time="1"/>
    <testcase classname="tests.a" name="bad" time="1"><failure message="x"/></testcase>
    <testcase classname="tests.a" name="broken" time="1"><error message="x"/></testcase>
    <testcase classname="tests.a" name="skip" time="0"><skipped message="x"/></testcase>
    </testsuite></testsuites>"""
    assert durations.counts(xml) == "1 passed, 2 failed, 1 skipped"
    assert durations.counts(XML) == "4 passed, 0 failed"


def test_no_test_and_no_results_are_said_not_a_traceback(tmp_path, capsys):
    empty = "<testsuites><testsuite/></testsuites>"
    assert durations.report(empty).splitlines()[0] == "where the time went (pytest, 0s in all):"
    assert durations.counts(empty) == "0 passed, 0 failed"
    broken = tmp_path / "results.xml"
    broken.write_text("<testsuites><testsuite")      # pytest killed while writing
    assert durations.main([str(broken)]) == 0
    assert "no results to read" in capsys.readouterr().out


def test_each_failure_is_named_with_the_start_of_its_message():
    # CI shows the end of the output only: on stop 27 the Debian 13 leg's failure (which
    # names the inner test that failed) sat in the middle of a long drill log and was cut
    inner = ("AssertionError: inner pytest (trixie, tests/integration): 1 failed, 202 passed\n"
             "tests.integration.test_lifecycle::test_x: failure\n--- pytest.log (end)\n"
             + "\n".join(f"line {i}" for i in range(60)))
    xml = f"""<testsuites><testsuite>
    <testcase classname="tests.a" name="ok" time="1"/>
    <testcase classname="tests.trixie.test_trixie_leg" name="test_integration" time="1"><failure message="{inner.replace(chr(10), '&#10;')}">long repr</failure></testcase>
    <testcase classname="tests.b" name="broken" time="1"><error message="{'x' * 500}"/></testcase>
    <testcase classname="tests.a" name="skip" time="0"><skipped message="x"/></testcase>
    </testsuite></testsuites>"""
    text = durations.failures(xml)
    lines = text.splitlines()
    assert lines[0] == "what failed (the first lines of each message):"
    assert lines[1] == "  tests/trixie/test_trixie_leg.py::test_integration"
    assert "    tests.integration.test_lifecycle::test_x: failure" in lines
    assert "    line 4" in lines and "    line 5" not in lines        # eight lines each
    assert "  tests/b.py::broken" in lines
    assert max(len(line) for line in lines) <= 204                     # long lines are cut
    assert "a.py::skip" not in text and "a.py::ok" not in text
    assert durations.failures(XML) == ""
