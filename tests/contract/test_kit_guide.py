"""The integrator guide's sections A (a new REST system) and C (a new county by mapping file),
run as the guide writes them: its shell blocks, its kit command lines, its expected output.
(Section B has its own file: test_kit_soap_template.py.)

"Install" in A3 is `pip install -e .` into the hub's environment. Installing a placeholder
package into the suite's environment would leave it behind for every later test, so the
test gives the renamed copy what an editable install gives the hub: the package on the path
and its entry point in a `.dist-info` beside it, which `importlib.metadata` reads exactly as
it reads an installed one. The hub's own CLI then discovers the adapter by entry point.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "integrator-guide.md"
COUNTY_DOC = ROOT / "docs" / "county.md"
TEMPLATE = ROOT / "docs" / "templates" / "adapter"
BIN = Path(sys.executable).parent
NAME, PACKAGE = "waterworks", "hub_adapter_waterworks"  # what the guide's A2 renames to


def _section(start: str, end: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    return text[text.index(start) : text.index(end)]


def _step(section: str, heading: str) -> str:
    start = section.index(f"### {heading}")
    following = section.find("\n### ", start + 1)
    return section[start : following if following != -1 else None]


def _blocks(text: str, lang: str) -> list[str]:
    """The fenced blocks of one language ("" for plain), dedented."""
    return [textwrap.dedent(b) for kind, b in re.findall(r"^ *```(\w*)\n(.*?)^ *```", text, re.S | re.M) if kind == lang]


def _commands(block: str) -> list[str]:
    """A shell block's commands, continuation lines joined, comments and background jobs kept out."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def _hub_bin(command: str) -> str:
    """The guide's paths to the hub's environment, pointed at the suite's."""
    return re.sub(r"(\.\./hub/)?\.venv/bin/", f"{BIN}/", command)


# -- A. A new REST system -------------------------------------------------------------------------
SECTION_A = ("## A. A new REST system", "## B. A new SOAP system")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A1-A3: the template copied, renamed with A2's commands, and made discoverable."""
    section = _section(*SECTION_A)
    copy = tmp_path_factory.mktemp("guide") / "hub-adapter-waterworks"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    [rename] = _blocks(_step(section, "A2."), "sh")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", rename], cwd=copy, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    project = tomllib.loads((copy / "pyproject.toml").read_text(encoding="utf-8"))
    info = copy / f"{PACKAGE}-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['project']['name']}\nVersion: 0.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[hotline_hub.adapters]\n" + "".join(f"{k} = {v}\n" for k, v in project["project"]["entry-points"]["hotline_hub.adapters"].items()), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(ROOT)])}
    yield copy, section, env
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_a2_renames_everything_and_registers_the_entry_point(installed) -> None:
    copy, section, _ = installed
    leftovers = [
        str(p.relative_to(copy))
        for p in copy.rglob("*")
        if "my_adapter" in p.name
        or "my_system" in p.name
        or (p.is_file() and p.suffix in {".py", ".toml", ".yaml", ".md"} and re.search(r"my_adapter|my_system|my-adapter", p.read_text(encoding="utf-8")))
    ]
    assert leftovers == []
    project = tomllib.loads((copy / "pyproject.toml").read_text(encoding="utf-8"))
    [shown] = _blocks(_step(section, "A2."), "toml")
    assert project["project"]["entry-points"] == tomllib.loads(shown)["project"]["entry-points"]
    assert project["project"]["name"] == "hub-adapter-waterworks"


def test_a3_the_hub_discovers_it_by_entry_point(installed) -> None:
    copy, section, env = installed
    [discover] = [c for c in _commands(_blocks(_step(section, "A3."), "sh")[0]) if "discover" in c]
    done = subprocess.run(_hub_bin(discover), shell=True, cwd=copy, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert NAME in eval(done.stdout)  # it prints the sorted list of names  # noqa: S307 - our own subprocess's print


def test_a5_the_kit_command_line_says_it_conforms(installed) -> None:
    copy, section, env = installed
    [block] = _blocks(_step(section, "A5."), "sh")
    [kit] = [c for c in _commands(block) if "kit check" in c]
    sys.path.insert(0, str(copy))
    try:
        from hub_adapter_waterworks.peer import create_app  # the peer A5 starts with uvicorn
    finally:
        sys.path.remove(str(copy))
    with LiveServer(create_app()) as live:
        settings = copy / "settings.example.yaml"
        settings.write_text(settings.read_text(encoding="utf-8").replace("http://127.0.0.1:9100", live.url), encoding="utf-8")
        command = _hub_bin(kit).replace("http://127.0.0.1:9100", live.url)
        done = subprocess.run(command, shell=True, cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].strip().startswith("=> conforms ("), done.stdout
    assert "[PASS] mappings" in done.stdout and "[PASS] scenario: permanent failure" in done.stdout


def test_a7_a_category_scoped_system_end_to_end(installed) -> None:
    """A7 as written: the hub's settings with a category scope, the kit for that destination,
    then `serve` with the relay, one case of another category and one of 0105: the peer gets
    the water case only, `outbox status` shows the destination flowing, and the relay's log
    line names the delivery. Ports are made free ones; everything else runs as the guide says."""
    import json

    copy, section, env = installed
    step = _step(section, "A7.")
    config_and_kit, hub_and_cases = _blocks(step, "sh")
    [case] = _blocks(step, "json")
    (copy / "water-case.json").write_text(case, encoding="utf-8")
    peer, api = _free_port(), _free_port()
    example = copy / "settings.example.yaml"  # the peer's address in it made this test's (test_a5 changes it too)
    example.write_text(re.sub(r"http://127\.0\.0\.1:\d+", f"http://127.0.0.1:{peer}", example.read_text(encoding="utf-8")), encoding="utf-8")
    script = _hub_bin(config_and_kit + hub_and_cases).replace("9100", str(peer)).replace("8000", str(api))
    run = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=copy,
        env={**env, "HUB_LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = run.communicate(timeout=300)
    finally:
        try:
            os.killpg(run.pid, signal.SIGTERM)  # the guide's background jobs, if the script stopped early
        except ProcessLookupError:
            pass
    assert run.returncode == 0, out + err
    lines = out.rstrip().splitlines()
    assert any(line.strip().startswith("=> conforms (") for line in lines), out
    [other] = [line for line in lines if re.fullmatch(r"512000\d{14}", line.strip())]
    [received] = [json.loads(line) for line in lines if line.startswith("[")]
    assert len(received) == 1 and received[0] != other.strip(), out  # the water case only
    water = received[0]
    [status] = [line for line in lines if line.startswith("waterworks ")]
    assert status.split()[1] == "0" and status.rstrip().endswith("flowing"), status
    assert (f"waterworks case {water} seq 1 case.registered (attempt 1): delivered, the peer's id waterworks:MY-{water}") in err, err


# -- C. A new county that only needs a mapping file --------------------------------------------------
SECTION_C = ("## C. A new county that only needs a mapping file", "## Checklist before you ask for review")


def _county_doc_block(heading: str) -> str:
    part = COUNTY_DOC.read_text(encoding="utf-8").split(heading, 1)[1]
    return re.search(r"```yaml\n(.*?)```", part, re.S).group(1)


@pytest.fixture
def checkout(tmp_path: Path):
    """The part of a hub checkout section C works in: its mappings/ and its .venv/bin. The
    installed hub reads REPO_ROOT/mappings; HUB_MAPPINGS_DIR points it at this one."""
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(BIN)
    env = {**os.environ, "HUB_MAPPINGS_DIR": str(tmp_path / "mappings")}
    env.pop("HUB_CONFIG_FILE", None)
    return tmp_path, env


def _c1(root: Path, env: dict[str, str], status_line: str | None = None) -> None:
    """C1's commands; each `$EDITOR file  # ... (docs/county.md, "N. heading")` does what the
    named block of docs/county.md says: append to the catalogue, or write the county file."""
    section = _section(*SECTION_C)
    for line in _blocks(_step(section, "C1."), "sh")[0].splitlines():
        editor = re.match(r'\$EDITOR (\S+)\s+#.*"(\d\. [^"]+)"', line)
        if editor is None:
            done = subprocess.run(line, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, (line, done.stderr)
            continue
        path, heading = root / editor.group(1), f"### {editor.group(2)}"
        block = _county_doc_block(heading)
        if status_line is not None and "The county file" in heading:
            block = re.sub(r"^  status: \{.*?\}\n", status_line, block, flags=re.S | re.M)
        if path.parent.name == "county":
            path.write_text(block, encoding="utf-8")
        else:
            with open(path, "a", encoding="utf-8") as f:
                f.write(block)


def _c2(root: Path, env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    section = _section(*SECTION_C)
    out = []
    for command in _commands(_blocks(_step(section, "C2."), "sh")[0]):
        out.append(subprocess.run(_hub_bin(command), shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=120))
        if out[-1].returncode != 0:
            break
    return out


def test_c_a_new_county_passes_every_check_the_guide_runs(checkout) -> None:
    root, env = checkout
    _c1(root, env)
    mappings, county, printf, kit = _c2(root, env)
    for done in (mappings, county, printf, kit):
        assert done.returncode == 0, done.args + "\n" + done.stdout + done.stderr
    listed = {line.split()[0]: line for line in county.stdout.splitlines() if line.strip()}
    assert re.sub(r"\s+", " ", listed["shuiyun"]) == "shuiyun 示例港区 divisions 512073 updates by push"
    assert kit.stdout.rstrip().splitlines()[-1].strip().startswith("=> passes what ran; not run: scenarios"), kit.stdout
    assert "[PASS] settings" in kit.stdout and "[PASS] mappings" in kit.stdout


def test_c_the_kit_names_the_status_words_a_county_file_leaves_out(checkout) -> None:
    """The failure the guide shows is the kit's own words for that file."""
    root, env = checkout
    _c1(root, env, status_line="  status: {awaiting_sign_off: waiting, in_progress: handling, replied: answered, closed: closed}\n")
    *_, kit = _c2(root, env)
    assert kit.returncode == 1, kit.stdout + kit.stderr
    [shown] = [b for b in _blocks(_step(_section(*SECTION_C), "C2."), "") if "[FAIL]" in b]
    expected = [line.strip() for line in shown.splitlines() if line.strip()]
    said = [line.strip() for line in kit.stdout.splitlines()]
    assert expected[0] in said
    [problem] = [line for line in said if "no mapping for" in line]
    assert problem.endswith(expected[1].split(".../", 1)[1]) and str(root / "mappings" / "county" / "shuiyun.yaml") in problem


def test_c3_the_kit_drives_the_new_county_through_its_sandbox(checkout) -> None:
    """C3 as written: the county's sandbox in the background, the kit's full run against it."""
    root, env = checkout
    _c1(root, env)
    port = _free_port()
    section = _section(*SECTION_C)
    for command in _commands(_blocks(_step(section, "C2."), "sh")[0]):
        if command.startswith("printf"):  # the settings file C3 reads
            subprocess.run(command.replace("8060", str(port)), shell=True, cwd=root, check=True, timeout=30)
    start, kit, stop = _commands(_blocks(_step(section, "C3."), "sh")[0])
    assert start.endswith("&") and stop == "kill %1"
    sandbox = subprocess.Popen(
        _hub_bin(start.removesuffix("&").strip().replace("8060", str(port))),
        shell=True,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", sandbox)
        done = subprocess.run(_hub_bin(kit).replace("8060", str(port)), shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    finally:
        os.killpg(sandbox.pid, signal.SIGTERM)
        sandbox.wait(timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].strip().startswith("=> conforms ("), done.stdout
    for scenario in ("send an ordered series of changes", "transient failure", "permanent failure", "duplicate delivery"):
        assert f"[PASS] scenario: {scenario}" in done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else "exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within 30 s")
