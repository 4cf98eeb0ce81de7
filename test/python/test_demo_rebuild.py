"""rebuild-demo's schedule: the stages run in order, a finished stage is skipped on a re-run, and a failed stage
stops the rebuild with the end of its log (the later stages do not start)."""
import json
import os
import sys

import pytest

from unitok.demo import rebuild


def fake(out, name, body="pass"):
    """A stage that appends '<name> start/end' to out/trace and runs `body` (Python) in between."""
    code = (f"import sys\nt = open({os.path.join(out, 'trace')!r}, 'a')\nt.write('{name} start\\n'); t.flush()\n"
            f"{body}\nt.write('{name} end\\n')\n")
    return [sys.executable, "-c", code]


def trace(out):
    path = os.path.join(out, "trace")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [tuple(line.split()) for line in f]


def test_stages_run_in_order_and_a_rerun_skips_finished_ones(tmp_path):
    out = str(tmp_path)
    stages = {name: fake(out, name) for name in rebuild.STAGES}
    record = rebuild.rebuild(out, stages)
    assert trace(out) == [(n, w) for n in rebuild.STAGES for w in ("start", "end")]
    assert list(record["sessions"][0]["stages"]) == list(rebuild.STAGES)
    assert all(os.path.isfile(os.path.join(out, "stages", f"{n}.done")) for n in rebuild.STAGES)
    os.remove(os.path.join(out, "trace"))
    again = rebuild.rebuild(out, stages)
    assert trace(out) == [] and len(again["sessions"]) == 2
    with open(os.path.join(out, "rebuild.json")) as f:
        assert json.load(f)["total_minutes"] == again["total_minutes"]


def test_a_failed_stage_stops_the_rebuild_with_its_log_and_a_rerun_resumes_there(tmp_path):
    out = str(tmp_path)
    stages = {name: fake(out, name) for name in rebuild.STAGES}
    failing = {**stages, "mllm": fake(out, "mllm", "print('out of memory'); sys.exit(3)")}
    with pytest.raises(RuntimeError, match=r"stage mllm failed \(exit 3\)(.|\n)*out of memory"):
        rebuild.rebuild(out, failing)
    assert [n for n, w in trace(out) if w == "start"] == ["tokenizer", "mllm"]
    assert not os.path.exists(os.path.join(out, "stages", "mllm.done"))
    os.remove(os.path.join(out, "trace"))
    rebuild.rebuild(out, stages)
    assert [n for n, w in trace(out) if w == "start"] == ["mllm", "readout", "readout-more", "clip"]


def test_the_command_line_runs_the_toolkit_commands_on_the_run_folder(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(rebuild, "rebuild", lambda out, stages: seen.update(stages) or {"total_minutes": 0,
                                                                                        "sessions": [{}]})
    assert rebuild.main(["--out", str(tmp_path), "--mllm-args", "--minutes 5 --t2i-centred 1"]) == 0
    assert seen["mllm"][1:] == ["-m", "unitok", "train-mllm", "--out", str(tmp_path), "--minutes", "5",
                                "--t2i-centred", "1"]
    assert seen["readout"][3:6] == ["train-tokenizer", "--out", str(tmp_path)] and "--decoder-only" in seen["readout"]
    # The continuation: the same options with the larger budget, so it resumes readout's checkpoint.
    more = seen["readout-more"]
    assert more[3:6] == seen["readout"][3:6] and more[more.index("--minutes") + 1] == "44"
    assert rebuild.main(["--out", str(tmp_path), "--readout-more-args", "--minutes 30 --decoder-only"]) == 0
    assert seen["readout-more"][6:] == ["--minutes", "30", "--decoder-only"]
