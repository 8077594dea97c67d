"""Section 7 manual pages of OCF resource agents, generated from their own meta-data.

    PYTHONPATH=agents python3 doc/manpage.py --outdir debian/man \\
        --snippet crm/openstack-ha.crm [--snippet crm/openstack-ha-haproxy.crm] agents/keystone ...

runs each agent's ``meta-data`` action and writes ``ocf_<provider>_<agent>.7`` (as
resource-agents names ``ocf_heartbeat_IPaddr2(7)``): name, description, every parameter
with its type, default, whether it is required and whether a change restarts the
service (``unique="1"``) or only reloads the agent, the actions with their advertised
timeouts, intervals and depths, and a crmsh and a pcs example taken from the agent's
primitive in the shipped crm snippet (if it has one). debian/rules runs it at build time,
so a page can not drift from the agent it documents.

Why roff written here, with the standard library only, rather than DocBook: Debian does
not ship resource-agents' ra2refentry.xsl, so the XSL route would be a stylesheet of our
own plus xsltproc and docbook-xsl as build dependencies, two transformations to debug
for one page layout. Emitting roff directly is a few escaping rules (below), the build
needs nothing but python3, and the tests can call :func:`render` on any meta-data.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

MANUAL = "OCF resource agents"
# What each action does, for the SUPPORTED ACTIONS section (the meta-data has no text for them).
ACTION_TEXT: Dict[str, str] = {
    "start": "Starts the service and returns once it answers its health check.",
    "stop": "Stops every process of the service; never fails because of the configuration.",
    "monitor": "Checks the service.",
    "reload": ("Pacemaker calls it when only parameters that are not unique changed: "
               "the service keeps running."),
    "validate-all": "Checks the parameters and this host (binaries, files, service user, port).",
    "meta-data": "Prints the agent's meta-data (what this page is generated from).",
}

# The documents the package installs in /usr/share/doc/resource-agents-<provider>/ (debian/docs,
# debian/install), named as installed: dh_compress gzips every document larger than 4 KiB, and
# each of these is (tests/unit/test_docs.py checks the sizes; tests/packaging/test_docs_installed.py
# that the installed package has each file where the page says).
DOCS: Tuple[Tuple[str, str], ...] = (
    ("operator-guide.md.gz", "The operator guide: installing, Corosync, fencing, the crm snippets "
     "and the same with pcs, cibsecret, degraded monitors during a database outage, keys-watch, "
     "the failure watcher, cleanup after a recovery, upgrades, Debian 12 and 13 (zless reads it)."),
    ("performance.md.gz", "Every measured figure: failover in each topology, what each action "
     "costs, the failure watcher's timings, a database outage."),
    ("README.md.gz", "The front page: the three topologies and how to choose, install, load, verify."),
    ("haproxy/README.md.gz", "The HAProxy example of the third topology (openstack-ha-haproxy.crm)."),
)


@dataclass(frozen=True)
class Parameter:
    """One ``<parameter>`` of the meta-data."""

    name: str
    shortdesc: str
    longdesc: str
    type: str
    default: str
    required: bool
    unique: bool


@dataclass(frozen=True)
class Action:
    """One ``<action>`` of the meta-data (timeouts and intervals as written there)."""

    name: str
    timeout: str
    interval: str
    depth: str


@dataclass(frozen=True)
class Agent:
    """What the meta-data says about an agent."""

    name: str
    version: str
    shortdesc: str
    longdesc: str
    parameters: Tuple[Parameter, ...]
    actions: Tuple[Action, ...]


def _text(node: Optional[ET.Element], tag: str) -> str:
    child = node.find(tag) if node is not None else None
    return " ".join((child.text or "").split()) if child is not None else ""


def parse_metadata(xml_text: str) -> Agent:
    """The agent described by an OCF 1.0 meta-data document."""
    root = ET.fromstring(xml_text)
    params = []
    for node in root.iterfind("./parameters/parameter"):
        content = node.find("content")
        params.append(Parameter(
            name=node.get("name", ""), shortdesc=_text(node, "shortdesc"),
            longdesc=_text(node, "longdesc"),
            type=content.get("type", "string") if content is not None else "string",
            default=content.get("default", "") if content is not None else "",
            required=node.get("required") == "1", unique=node.get("unique") == "1"))
    actions = tuple(Action(a.get("name", ""), a.get("timeout", ""), a.get("interval", ""),
                           a.get("depth", "")) for a in root.iterfind("./actions/action"))
    return Agent(root.get("name", ""), root.get("version", ""), _text(root, "shortdesc"),
                 _text(root, "longdesc"), tuple(params), actions)


# ---------------------------------------------------------------- roff

def escape(text: str) -> str:
    """Text as roff prints it literally, for use inside a line (never a control line).

    A backslash is roff's escape character (``\\e`` prints one); ``-`` is a hyphen that
    may render as U+2010, so option names, paths and commands would not paste back into
    a shell: ``\\-`` is the ASCII minus; anything beyond ASCII goes as ``\\[uXXXX]``.
    """
    out = []
    for char in text.replace("\\", "\\e").replace("-", "\\-"):
        out.append(char if ord(char) < 128 else f"\\[u{ord(char):04X}]")
    return "".join(out)


def text_line(text: str, fill: bool = True) -> str:
    """One output line of literal text: a leading ``.`` or ``'`` would make it a request.

    In filled text ``\\:`` after each ``/`` lets a long path break on a narrow terminal
    (otherwise troff warns "can't break line"); examples (``fill=False``) stay verbatim.
    """
    line = escape(text)
    if fill:
        line = line.replace("/", "/\\:")
    return "\\&" + line if line.startswith((".", "'")) else line


def _para(text: str) -> List[str]:
    # One filled paragraph per line of roff; whitespace (and newlines) collapsed.
    return [".PP", text_line(" ".join(text.split()))]


def _example(lines: Sequence[str]) -> List[str]:
    # No-fill, indented; an empty line would be a blank line, \& keeps it a text line.
    return [".sp", ".RS 4", ".nf", *(text_line(line, fill=False) or "\\&" for line in lines), ".fi", ".RE"]


def _arg(text: str) -> str:
    # a quoted macro argument: a double quote inside it is \(dq
    return '"' + escape(text).replace('"', "\\(dq") + '"'


def _seconds(value: str) -> str:
    return value if not value or value[-1].isalpha() else value + "s"


def parameter_facts(param: Parameter) -> str:
    """The one-line summary under a parameter: required, type, default, restart or reload."""
    default = f'default "{param.default}"' if param.default else "default empty"
    effect = ("unique: a change restarts the service" if param.unique
              else "a change makes Pacemaker call reload, the service keeps running")
    return f"({'required' if param.required else 'optional'}, {param.type}, {default}; {effect})"


def action_title(action: Action) -> str:
    """``monitor (depth 10)`` for a monitor with a depth, else the action's name."""
    return f"{action.name} (depth {action.depth})" if action.depth else action.name


def action_facts(action: Action) -> str:
    """The advertised timeout, interval and depth of an action, as one sentence."""
    facts = [f"timeout {_seconds(action.timeout)}"] if action.timeout else []
    if action.interval:
        facts.append(f"interval {_seconds(action.interval)}")
    if action.depth:
        facts.append(f"depth {action.depth} (OCF_CHECK_LEVEL={action.depth})")
    return ("Advertised " + ", ".join(facts) + ".") if facts else ""


def render(agent: Agent, provider: str, date: str, crm_example: Sequence[str] = (),
           pcs_example: Sequence[str] = ()) -> str:
    """The whole manual page (roff), ``ocf_<provider>_<name>(7)``."""
    page = f"ocf_{provider}_{agent.name}"
    path = f"/usr/lib/ocf/resource.d/{provider}/{agent.name}"
    source = f"resource-agents-{provider} {agent.version}"   # the package, as in the footer of IPaddr2(7)
    out = [f".TH {_arg(page.upper())} 7 {_arg(date)} {_arg(source)} {_arg(MANUAL)}",
           # no hyphenation, ragged right: parameter names and paths stay whole
           ".nh", ".ad l",
           ".SH NAME", text_line(f"{page} - {agent.shortdesc}"),
           ".SH SYNOPSIS",
           text_line(f"{path} {{{' | '.join(dict.fromkeys(a.name for a in agent.actions))}}}"),
           ".SH DESCRIPTION", *_para(agent.longdesc),
           *_para(f"Resource agent ocf:{provider}:{agent.name}, version {agent.version}. "
                  "Pacemaker runs it with the parameters below as OCF_RESKEY_<name> "
                  "environment variables; a person runs it only to debug (ocf-tester, "
                  "or OCF_ROOT=/usr/lib/ocf and the variables set by hand).")]
    out += [".SH SUPPORTED PARAMETERS"]
    for param in agent.parameters:
        short = escape(f" - {param.shortdesc}") if param.shortdesc else ""
        out += [".PP", f"\\fB{escape(param.name)}\\fR{short}", ".RS 4"]
        if param.longdesc:
            out.append(text_line(param.longdesc))
            out.append(".sp")
        out += [text_line(parameter_facts(param)), ".RE"]
    out += [".SH SUPPORTED ACTIONS"]
    for action in agent.actions:
        words = " ".join(w for w in (ACTION_TEXT.get(action.name, ""), action_facts(action)) if w)
        out += [".PP", f"\\fB{escape(action_title(action))}\\fR", ".RS 4"]
        out += [text_line(words) if words else "\\&", ".RE"]
    if crm_example:
        out += [".SH EXAMPLE CRM SHELL",
                *_para(f"The resource as the crm snippets in /usr/share/resource-agents-{provider}/crm/ "
                       "configure it (their comments say what to edit), with crm(8):"),
                *_example(crm_example)]
    if pcs_example:
        out += [".SH EXAMPLE PCS", *_para("The same resource with pcs(8):"), *_example(pcs_example)]
    out += [".SH FILES", ".PP", f"\\fI{escape(path)}\\fR", ".RS 4", "The agent.", ".RE",
            ".SH SEE ALSO", ".PP",
            text_line("crm(8), pcs(8), crm_resource(8), ocf_heartbeat_IPaddr2(7), and the documents "
                      "the package installs:")]
    for doc, what in docs(provider):
        out += [".PP", f"\\fI{text_line(doc)}\\fR", ".RS 4", text_line(what), ".RE"]
    return "\n".join(out) + "\n"


def docs(provider: str) -> List[Tuple[str, str]]:
    """The documents SEE ALSO names: (installed path, what it is)."""
    root = f"/usr/share/doc/resource-agents-{provider}/"
    return [(root + name, what) for name, what in DOCS]


# ---------------------------------------------------------------- examples from a crm snippet

def crm_primitive(snippet: str, name: str) -> List[str]:
    """The lines of ``primitive NAME ...`` (with its continuation lines) in a crm snippet,
    or none when the snippet does not configure that agent."""
    match = re.search(rf"^primitive {re.escape(name)} \S+(?:[^\n]*\\\n)*[^\n]*$", snippet, flags=re.M)
    return match.group(0).splitlines() if match else []


def pcs_create(primitive: Sequence[str]) -> List[str]:
    """The same primitive as a ``pcs resource create`` command.

    pcs takes crmsh's primitive syntax minus the ``params`` keyword:
    ``create ID AGENT [name=value...] [op ACTION k=v...] [meta k=v...]``.
    """
    lines = [line.rstrip(" \\").strip() for line in primitive]
    first = lines[0].split(None, 1)[1]     # "ID AGENT" without "primitive"
    rest = [re.sub(r"^params\s+", "", line) for line in lines[1:]]
    body = [f"pcs resource create {first}", *(f"    {line}" for line in rest)]
    return [line + " \\" for line in body[:-1]] + body[-1:]


def _build_date() -> str:
    # dpkg-buildpackage exports SOURCE_DATE_EPOCH (the changelog's date): reproducible pages.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    return when.strftime("%Y-%m-%d")


def metadata_of(executable: str) -> str:
    """The meta-data an agent prints (its exit status must be 0)."""
    proc = subprocess.run([executable, "meta-data"], capture_output=True, text=True, timeout=60,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{executable} meta-data exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write one page per agent executable into --outdir; print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--provider", default="openstack")
    parser.add_argument("--snippet", type=Path, action="append", default=[],
                        help="crm snippet whose primitives are the examples (repeatable: the first that "
                             "configures an agent gives its example)")
    parser.add_argument("agents", nargs="+", help="agent executables")
    args = parser.parse_args(argv)
    snippets = [path.read_text() for path in args.snippet]
    args.outdir.mkdir(parents=True, exist_ok=True)
    for executable in args.agents:
        agent = parse_metadata(metadata_of(executable))
        crm = next((found for found in (crm_primitive(text, agent.name) for text in snippets) if found), [])
        page = render(agent, args.provider, _build_date(), crm, pcs_create(crm) if crm else [])
        out = args.outdir / f"ocf_{args.provider}_{agent.name}.7"
        out.write_text(page)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
