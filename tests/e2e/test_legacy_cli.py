"""`hotline-hub legacy ...` as an operator runs it: real processes, real files, a real Ctrl-C
(SIGINT) in the middle of a large import, then the same command again."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hub.settings import REPO_ROOT
from tests.fixtures.legacy.samples import CSV_12315, JSONL_12369
from tests.integration.test_legacy_import import REFUSED_12315

pytestmark = pytest.mark.e2e


def _run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def _rejects(path: Path) -> list[dict[str, str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel opens it as such
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_import_dry_run_reject_file_reimport_and_decisions(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    rejects = tmp_path / "rejects.csv"

    dry = _run(["legacy", "import", "--line", "12315", str(CSV_12315), "--dry-run", "--reject-file", str(rejects)], env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("dry run: nothing stored; line 12315 file 12315_export_gbk.csv (gb18030): accepted 5, rejected 8")
    assert [(int(r["row"]), r["column"]) for r in _rejects(rejects)] == [(row, col) for row, col, _ in REFUSED_12315]

    rejects.unlink()
    first = _run(["legacy", "import", "--line", "12315", str(CSV_12315), "--reject-file", str(rejects)], env)
    assert first.returncode == 0, first.stderr
    assert "accepted 5, rejected 8, skipped (already held) 0" in first.stdout
    assert "duplicate candidates: 1 new" in first.stdout
    # The progress bar on stderr, ending at 100% with a rate (redrawn with \r: the large import below),
    # then the duplicate search's own line (issue #19), at 100% too.
    drawn = [line.rstrip() for line in first.stderr.splitlines() if line.strip()]  # splitlines splits at \r too
    bar = [line for line in drawn if line.startswith("12315 ")][-1]
    assert re.fullmatch(r"12315 12315_export_gbk\.csv \[#{30}\] 100\.0% 13 rows [\d,]+ rows/s", bar), first.stderr
    assert re.fullmatch(r"duplicate search \[#{30}\] 100\.0% \d+ records [\d,]+ records/s", drawn[-1]), first.stderr
    got = _rejects(rejects)
    assert [(int(r["row"]), r["column"]) for r in got] == [(row, col) for row, col, _ in REFUSED_12315]
    for r, (_, _, prefix) in zip(got, REFUSED_12315):
        assert r["reason"].startswith(prefix)
    assert next(r["original_id"] for r in got if r["row"] == "7") == "SC2018120001"  # row 7 repeats row 2's id
    assert "13800001111" not in rejects.read_text(encoding="utf-8-sig")  # no phone or name values

    again = _run(["legacy", "import", "--line", "12315", str(CSV_12315), "--reject-file", str(rejects)], env)
    assert again.returncode == 0 and "imported completely by run 1: nothing new" in again.stdout
    assert len(_rejects(rejects)) == 8  # the reject file is left as it was

    assert _run(["legacy", "import", "--line", "12369", str(JSONL_12369), "--quiet"], env).returncode == 0
    listed = _run(["legacy", "candidates"], env).stdout.splitlines()
    assert len(listed) == 2 and all("pending" in line for line in listed)
    heater = next(line for line in listed if line.count("(12315)") == 2)
    across = next(line for line in listed if "(12369)" in line)
    heater_id, across_id = heater.split()[0], across.split()[0]
    confirmed = _run(["legacy", "confirm", heater_id, "--note", "same heater"], env)
    assert confirmed.returncode == 0 and confirmed.stdout.strip() == f"candidate {heater_id}: confirmed merged"
    twice = _run(["legacy", "confirm", heater_id], env)
    assert twice.returncode == 1 and "already confirmed" in twice.stderr
    dismissed = _run(["legacy", "dismiss", across_id, "--note", "another restaurant"], env)
    assert dismissed.returncode == 0 and f"candidate {across_id}: dismissed" in dismissed.stdout
    assert _run(["legacy", "candidates"], env).stdout == ""


def test_legacy_check_says_which_parallel_line_has_no_bridge(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "destinations:\n  line12315:\n    adapter: legacy_bridge\n    settings:\n      line: '12315'\n      base_url: http://127.0.0.1:9/api\n",
        encoding="utf-8",
    )
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "HUB_CONFIG_FILE": str(config)}
    checked = _run(["legacy", "check"], env)
    assert checked.returncode == 0, checked.stderr
    lines = {line.split()[0]: line for line in checked.stdout.splitlines()}
    assert lines["12315"].endswith("bridge rest -> destination line12315")
    assert "bridge soap: NOT CONNECTED (no legacy_bridge destination with line '12320' in the settings)" in lines["12320"]
    assert "warning: line 12320 is 双号并行 but has no live bridge" in checked.stderr and "12315" not in checked.stderr
    assert _run(["legacy", "check", "--strict"], env).returncode == 1


# -- a real Ctrl-C in the middle of a large import -----------------------------------------------

HEADER = "工单编号,登记时间,投诉人,联系电话,诉求类型,问题类别,标题,诉求内容,地址,所属区域,办理状态,承办单位,处理结果,办结时间\n"
# Large enough that a Ctrl-C lands well inside it on either database (PostgreSQL loads it
# more slowly here, so a smaller file keeps that run near the SQLite one's time).
ROWS = {"sqlite": 40_000, "postgresql": 20_000}
BAD_DATE, REPEAT = 97, 211  # every 97th row has a date no format reads; every 211th repeats an earlier id


def generate(path: Path, n: int) -> tuple[int, list[tuple[int, str]]]:
    """A 12315 export of n rows (UTF-8), written in one go; returns the rows it should accept
    and (row, why) for every row it should refuse. Rows are numbered as an operator sees them:
    the header is row 1."""
    lines, refused = [HEADER], []
    for i in range(1, n + 1):
        row = i + 1
        bad = i % BAD_DATE == 0
        repeat = i % REPEAT == 0 and not bad
        source = i - 100
        if repeat and source % BAD_DATE == 0:
            source -= 1  # repeat an id the import took, so the refusal names its row
        ident = f"GEN{source if repeat else i:07d}"
        day = f"2019年13月{1 + i % 28:02d}日" if bad else f"2019年{1 + i % 12:02d}月{1 + i % 28:02d}日 {i % 24:02d}:{i % 60:02d}"
        lines.append(
            f"{ident},{day},测试{i % 1000},139{i:08d},投诉,0{1 + i % 5},问题{i},"
            f"第{i}号投诉：网购商品质量问题，商家拒绝退换,雁江区某路{i}号,雁江区,已办结,市局,已调解,\n"
        )
        if bad:
            refused.append((row, "date"))
        elif repeat:
            refused.append((row, f"duplicate of row {source + 1}"))
    path.write_text("".join(lines), encoding="utf-8")
    return n - len(refused), refused


class StderrWatch:
    """Reads a process's stderr as it comes (the progress bar has no newlines)."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        self.text, self._stream = "", stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := os.read(self._stream.fileno(), 4096):
            self.text += chunk.decode("utf-8", "replace")

    def rows_done(self) -> int:
        counts = re.findall(r"([\d,]+) rows ", self.text)
        return int(counts[-1].replace(",", "")) if counts else 0

    def join(self) -> str:
        self._thread.join(10)
        return self.text


def counts(db_url: str) -> tuple[int, int, tuple]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            refs = conn.execute(text("SELECT count(*), count(DISTINCT external_id) FROM case_external_refs WHERE system = 'legacy.12315'")).one()
            run = conn.execute(text("SELECT status, last_row, accepted, rejected, skipped FROM legacy_import_runs")).one()
    finally:
        engine.dispose()
    return refs[0], refs[1], tuple(run)


def test_ctrl_c_in_the_middle_of_a_large_import_then_the_same_command_resumes_exactly(tmp_path: Path, db_url: str) -> None:
    export, rejects = tmp_path / "12315_large.csv", tmp_path / "rejects.csv"
    total = ROWS[db_url.split(":")[0].split("+")[0]]
    accepted, refused = generate(export, total)
    env = {**os.environ, "HUB_DATABASE_URL": db_url}
    command = [
        sys.executable,
        "-m",
        "hub",
        "legacy",
        "import",
        "--line",
        "12315",
        str(export),
        "--reject-file",
        str(rejects),
        "--batch-size",
        "500",
        "--no-dedupe",
    ]

    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watch = StderrWatch(proc.stderr)
    try:
        deadline = time.monotonic() + 120  # a bound for a loaded machine, not a speed requirement
        while watch.rows_done() < 2_000:  # well into the file, far from its end
            assert proc.poll() is None, watch.text
            assert time.monotonic() < deadline, f"no progress: {watch.text}"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = watch.join()
    assert proc.returncode == 130, stderr  # documented: interrupted, run the same command to continue
    redraws = re.findall(r"\r12315 12315_large\.csv \[[#.]{30}\] +[\d.]+% [\d,]+ rows [\d,]+ rows/s", stderr)
    assert len(redraws) >= 2, stderr  # one line, redrawn in place as the import goes
    stopped = out.decode("utf-8")
    assert re.search(r"stopped after \d+ batches; run the same command again to continue", stopped), stopped
    refs, distinct, (status, last_row, run_accepted, run_rejected, _) = counts(db_url)
    assert status == "running" and 2_000 <= last_row - 1 < total and (last_row - 1) % 500 == 0  # whole batches
    assert refs == distinct == run_accepted and run_accepted + run_rejected == last_row - 1
    listed = [int(r["row"]) for r in _rejects(rejects)]
    assert listed == [row for row, _ in refused if row <= last_row]  # exactly the committed batches' refusals

    resumed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed run 1 after row {last_row}" in resumed.stdout
    assert f"accepted {accepted}, rejected {len(refused)}, skipped (already held) 0" in resumed.stdout
    refs, distinct, (status, _, run_accepted, run_rejected, skipped) = counts(db_url)
    assert (status, refs, distinct, run_accepted, run_rejected, skipped) == ("done", accepted, accepted, accepted, len(refused), 0)
    got = _rejects(rejects)
    assert [int(r["row"]) for r in got] == [row for row, _ in refused]  # each refused row once, in order
    for r, (_, why) in zip(got, refused):
        assert why in r["reason"] if why != "date" else "matches none of the line's date_formats" in r["reason"]
    again = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing new" in again.stdout
