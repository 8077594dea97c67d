"""The section 7 manual pages: installed, rendered by man, and complete against the meta-data.

The pages are built by doc/manpage.py from each agent's meta-data (debian/rules). Every
check reads the page as man renders it: each parameter of the installed agent's
meta-data with its type, default, required flag and restart-or-reload effect, each
advertised action, the crmsh and pcs examples, and no troff warning. The checker is
proven to fail on a page generated from meta-data with one parameter removed or one
``unique`` flag flipped.
"""

from __future__ import annotations

import gzip
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List

import pytest

from packaging_helpers import AGENTS, RA_DIR, ROOT, describe, run

sys.path.insert(0, str(ROOT / "doc"))
import manpage  # noqa: E402  (doc/manpage.py, the generator debian/rules runs)

MAN7 = Path("/usr/share/man/man7")
SNIPPET = Path("/usr/share/resource-agents-openstack/crm/openstack-ha.crm")
WIDTHS = (60, 80, 100)   # lintian renders at 80; no warning on a narrower or wider terminal either


def page_path(agent: str) -> Path:
    return MAN7 / f"ocf_openstack_{agent}.7.gz"


def metadata(agent: str) -> ET.Element:
    """The installed agent's meta-data, parsed here and not by the generator."""
    proc = run([str(RA_DIR / agent), "meta-data"])
    assert proc.returncode == 0, describe(proc)
    return ET.fromstring(proc.stdout)


def render(page: Path, width: int = 100) -> str:
    """The page as ``man -l`` prints it (plain text: stdout is not a terminal)."""
    proc = run(["man", "-E", "UTF-8", "-l", str(page)], env={"MANWIDTH": str(width)})
    assert proc.returncode == 0 and proc.stdout.strip(), describe(proc)
    return proc.stdout


def section(text: str, title: str) -> str:
    """The body of one section (headings are the lines that start in column 0)."""
    match = re.search(rf"^{re.escape(title)}\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
    assert match, f"no section {title!r} in the page"
    return match.group(1)


def entries(body: str) -> Dict[str, str]:
    """Heading -> its text (whitespace collapsed) of a list like SUPPORTED PARAMETERS.

    A heading is indented 7 columns (man's section indent), its text deeper. The heading
    key is what stands before " - " (a parameter's shortdesc follows the name).
    """
    found: Dict[str, str] = {}
    key = ""
    for line in body.splitlines():
        if re.match(r"^ {7}\S", line):
            key = line.strip().split(" - ", 1)[0]
            found[key] = ""
        elif key:
            found[key] = " ".join((found[key] + " " + line).split())
    return found


def parameter_problems(text: str, meta: ET.Element) -> List[str]:
    """What the rendered page says wrong, or not at all, about the meta-data's parameters."""
    params = entries(section(text, "SUPPORTED PARAMETERS"))
    problems = []
    for node in meta.iterfind("./parameters/parameter"):
        name = node.get("name")
        if name not in params:
            problems.append(f"{name}: missing")
            continue
        # the closing "(optional, string, default ...; ...)" line, not the longdesc
        facts = re.search(r"\((?:required|optional), [^()]*\)$", params[name])
        if not facts:
            problems.append(f"{name}: no facts line")
            continue
        content = node.find("content")
        default = content.get("default", "")
        expected = [
            "required" if node.get("required") == "1" else "optional",
            content.get("type"),
            f'default "{default}"' if default else "default empty",
            "restarts the service" if node.get("unique") == "1" else "call reload",
        ]
        problems += [f"{name}: no {word!r}" for word in expected if word not in facts.group(0)]
    return problems


def action_problems(text: str, meta: ET.Element) -> List[str]:
    """What the rendered page misses of the meta-data's actions and their timeouts."""
    actions = entries(section(text, "SUPPORTED ACTIONS"))
    problems = []
    for node in meta.iterfind("./actions/action"):
        depth = node.get("depth")
        title = f"{node.get('name')} (depth {depth})" if depth else node.get("name")
        if title not in actions:
            problems.append(f"{title}: missing")
            continue
        for attr in ("timeout", "interval"):
            if node.get(attr) and f"{attr} {node.get(attr)}" not in actions[title]:
                problems.append(f"{title}: no {attr} {node.get(attr)}")
        if depth and f"OCF_CHECK_LEVEL={depth}" not in actions[title]:
            problems.append(f"{title}: no OCF_CHECK_LEVEL={depth}")
    return problems


def warnings(page: Path, width: int) -> str:
    """What ``man --warnings`` reports on stderr (what lintian's manpage check runs)."""
    proc = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(page)],
                env={"MANWIDTH": str(width)})
    assert proc.returncode == 0, describe(proc)
    return proc.stderr.strip()


def generate(tmp_path: Path, meta: ET.Element, name: str = "page") -> Path:
    """A page written by the generator from ``meta`` (with the installed snippet's examples)."""
    agent = manpage.parse_metadata(ET.tostring(meta, encoding="unicode"))
    crm = manpage.crm_primitive(SNIPPET.read_text(), agent.name)
    path = tmp_path / f"{name}.7"
    path.write_text(manpage.render(agent, "openstack", "2026-01-01", crm, manpage.pcs_create(crm)))
    return path


# ---------------------------------------------------------------- the installed pages

@pytest.mark.parametrize("agent", AGENTS)
def test_man_finds_the_page(installed: Path, agent: str) -> None:
    # what `man ocf_openstack_keystone` opens
    proc = run(["man", "-w", f"ocf_openstack_{agent}"])
    assert proc.returncode == 0 and proc.stdout.strip() == str(page_path(agent)), describe(proc)
    proc = run(["man", f"ocf_openstack_{agent}"], env={"MANWIDTH": "80"})
    assert proc.returncode == 0, describe(proc)
    assert f"ocf_openstack_{agent} - " in section(proc.stdout, "NAME")


@pytest.mark.parametrize("agent", AGENTS)
def test_whatis_entry(installed: Path, agent: str) -> None:
    # lexgrog reads NAME as mandb does (apropos, man -f; lintian's bad-whatis check)
    proc = run(["lexgrog", str(page_path(agent))])
    shortdesc = metadata(agent).findtext("shortdesc")
    assert proc.returncode == 0, describe(proc)
    assert f'"ocf_openstack_{agent} - {shortdesc}"' in proc.stdout, describe(proc)


@pytest.mark.parametrize("agent", AGENTS)
def test_every_parameter_documented(installed: Path, agent: str) -> None:
    meta = metadata(agent)
    assert len(meta.findall("./parameters/parameter")) > 10
    text = render(page_path(agent))
    assert parameter_problems(text, meta) == []
    assert " ".join(meta.findtext("longdesc").split()) in " ".join(section(text, "DESCRIPTION").split())


@pytest.mark.parametrize("agent", AGENTS)
def test_every_action_documented(installed: Path, agent: str) -> None:
    meta = metadata(agent)
    text = render(page_path(agent))
    assert action_problems(text, meta) == []
    assert {"monitor (depth 0)", "monitor (depth 10)", "reload"} <= set(entries(section(text, "SUPPORTED ACTIONS")))


@pytest.mark.parametrize("agent", AGENTS)
def test_examples(installed: Path, agent: str) -> None:
    text = render(page_path(agent))
    crm = section(text, "EXAMPLE CRM SHELL")
    pcs = section(text, "EXAMPLE PCS")
    assert f"primitive {agent} ocf:openstack:{agent} \\" in crm
    assert f"pcs resource create {agent} ocf:openstack:{agent} \\" in pcs
    for example in (crm, pcs):
        assert "op monitor interval=60s timeout=40s OCF_CHECK_LEVEL=10" in example
        assert "os_username=" in example and "params" not in pcs


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("agent", AGENTS)
def test_renders_without_warnings(installed: Path, agent: str, width: int) -> None:
    assert warnings(page_path(agent), width) == ""


def test_every_installed_agent_has_a_complete_page(installed: Path) -> None:
    """Not only the two services: every agent the package installs (debian/rules finds them)."""
    agents = sorted(p.name for p in RA_DIR.iterdir())
    assert set(AGENTS) <= set(agents)
    for agent in agents:
        assert page_path(agent).is_file(), agent
        text = render(page_path(agent))
        assert parameter_problems(text, metadata(agent)) + action_problems(text, metadata(agent)) == []
        assert warnings(page_path(agent), 80) == "", agent


@pytest.mark.parametrize("agent", AGENTS)
def test_page_is_the_generator_output_for_the_installed_agent(installed: Path, agent: str,
                                                              tmp_path: Path) -> None:
    """Built from the agent's meta-data: regenerated from the installed agent, it is the
    same page (same date: the build's SOURCE_DATE_EPOCH, read from .TH)."""
    shipped = gzip.decompress(page_path(agent).read_bytes()).decode()
    date = re.match(r'\.TH "[^"]*" 7 "([^"]*)"', shipped).group(1).replace("\\-", "-")
    agent_md = manpage.parse_metadata(ET.tostring(metadata(agent), encoding="unicode"))
    crm = manpage.crm_primitive(SNIPPET.read_text(), agent)
    assert shipped == manpage.render(agent_md, "openstack", date, crm, manpage.pcs_create(crm))


# ---------------------------------------------------------------- the checks can fail

def test_a_missing_parameter_is_caught(installed: Path, tmp_path: Path) -> None:
    meta = metadata("keystone")
    params = meta.find("parameters")
    dropped = params.find("./parameter[@name='os_password']")
    params.remove(dropped)
    text = render(generate(tmp_path, meta))
    assert parameter_problems(text, metadata("keystone")) == ["os_password: missing"]


def test_a_wrong_restart_claim_is_caught(installed: Path, tmp_path: Path) -> None:
    meta = metadata("glance-api")
    flipped = meta.find("./parameters/parameter[@name='http_timeout']")
    flipped.set("unique", "1")
    text = render(generate(tmp_path, meta))
    assert parameter_problems(text, metadata("glance-api")) == ["http_timeout: no 'call reload'"]


def test_a_missing_action_is_caught(installed: Path, tmp_path: Path) -> None:
    meta = metadata("keystone")
    actions = meta.find("actions")
    actions.remove(actions.find("./action[@depth='10']"))
    text = render(generate(tmp_path, meta))
    assert action_problems(text, metadata("keystone")) == ["monitor (depth 10): missing"]


# ---------------------------------------------------------------- roff escaping

HOSTILE = {
    "longdesc": ".TH looks like a request\n'and so does this\\fB not bold C:\\temp -x --long",
    "param": "two-words",
    "default": "..\\x",
}


def test_escaping(installed: Path, tmp_path: Path) -> None:
    """Text that roff would take as requests or escapes prints literally, without warnings."""
    meta = metadata("keystone")
    meta.find("longdesc").text = HOSTILE["longdesc"]
    param = meta.find("./parameters/parameter[@name='binary']")
    param.set("name", HOSTILE["param"])
    param.find("longdesc").text = ".starts with a dot"
    param.find("content").set("default", HOSTILE["default"])
    page = generate(tmp_path, meta)
    for width in WIDTHS:
        assert warnings(page, width) == ""
    text = render(page)
    description = " ".join(section(text, "DESCRIPTION").split())
    assert " ".join(HOSTILE["longdesc"].split()) in description
    params = entries(section(text, "SUPPORTED PARAMETERS"))
    assert params[HOSTILE["param"]].startswith(".starts with a dot ")
    assert f'default "{HOSTILE["default"]}"' in params[HOSTILE["param"]]
    # every hyphen of a text line is \- (ASCII minus: option names paste into a shell)
    roff = page.read_text()
    text_lines = [line for line in roff.splitlines() if not line.startswith(".")]
    assert text_lines and not [line for line in text_lines if re.search(r"(?<!\\)-", line)]


def test_escape_function() -> None:
    assert manpage.escape("a-b\\c") == "a\\-b\\ec"
    assert manpage.escape("caf\u00e9") == "caf\\[u00E9]"
    assert manpage.text_line(".x") == "\\&.x" and manpage.text_line("'x") == "\\&'x"
    assert manpage.text_line("/a/b") == "/\\:a/\\:b"
    assert manpage.text_line("/a/b", fill=False) == "/a/b"
