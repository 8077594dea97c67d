"""Where the suite's time went: seconds per test directory and per module, from pytest's
JUnit XML (tests/run.sh writes it), the module's setup and teardown included (a lab brought
up or torn down counts for the module that asked for it); then each failure's first lines,
and pytest's counts again as the run's last line.

    /usr/bin/python3 tests/setup/durations.py RESULTS.xml [--modules N]
"""

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Dict, List, Tuple


def module_times(xml_text: str) -> Dict[str, float]:
    """Seconds per test module (``tests/lab/test_group_drills.py``), summed over its cases."""
    times: Dict[str, float] = defaultdict(float)
    for case in ET.fromstring(xml_text).iter("testcase"):
        module = case.get("classname", "").split(".")
        path = "/".join(p for p in module if not p[:1].isupper()) + ".py"   # drop a class name
        times[path] += float(case.get("time") or 0)
    return dict(times)


def directory_times(modules: Dict[str, float]) -> List[Tuple[str, float]]:
    dirs: Dict[str, float] = defaultdict(float)
    for path, seconds in modules.items():
        dirs[path.rsplit("/", 1)[0] if "/" in path else "."] += seconds
    return sorted(dirs.items(), key=lambda kv: -kv[1])


def counts(xml_text: str) -> str:
    """pytest's closing counts, as the plain line CI reads: "N passed, N failed[, N skipped]"."""
    total = failed = skipped = 0
    for case in ET.fromstring(xml_text).iter("testcase"):
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
    line = f"{total - failed - skipped} passed, {failed} failed"
    return line + (f", {skipped} skipped" if skipped else "")


def failures(xml_text: str, lines: int = 8, width: int = 200) -> str:
    """Each failed test and the first lines of its message (empty if none failed): CI shows
    the end of the output, and a long failure above may push the others out of it."""
    out = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        if bad is None:
            continue
        module = "/".join(p for p in case.get("classname", "").split(".") if not p[:1].isupper())
        out.append(f"  {module}.py::{case.get('name')}")
        message = (bad.get("message") or bad.text or "").strip().splitlines()[:lines]
        out += [f"    {line[:width]}" for line in message]
    return "\n".join(["what failed (the first lines of each message):"] + out) if out else ""


def report(xml_text: str, top: int = 15) -> str:
    modules = module_times(xml_text)
    total = sum(modules.values())
    lines = [f"where the time went (pytest, {total:.0f}s in all):"]
    lines += [f"  {seconds:7.0f}s  {100 * seconds / (total or 1):4.1f}%  {name}/"   # no test: no share
              for name, seconds in directory_times(modules)]
    lines.append("  slowest modules:")
    for path, seconds in sorted(modules.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {seconds:7.0f}s  {path}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xml")
    parser.add_argument("--modules", type=int, default=15)
    args = parser.parse_args(argv)
    try:
        text = open(args.xml).read()
        ET.fromstring(text)
    except (OSError, ET.ParseError) as err:   # pytest died before it wrote them
        print(f"durations: no results to read ({err}); pytest's own lines above say what ran")
        return 0
    print(report(text, args.modules))
    if failures(text):
        print(failures(text))
    print("suite: " + counts(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
