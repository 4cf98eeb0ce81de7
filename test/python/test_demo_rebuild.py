"""rebuild-demo's schedule: the side stages wait for the MLLM's first checkpoint and run beside it, a finished
stage is skipped on a re-run, and a failed stage stops the rebuild with its log and leaves nothing running."""
import json
import os
import sys

import pytest

from unitok.demo import rebuild


def fake(out, name, body):
    """A stage that appends '<name> start/end <time>' to out/trace and runs `body` (Python) in between."""
    code = (f"import os, time, sys\nt = open({os.path.join(out, 'trace')!r}, 'a')\n"
            f"t.write('{name} start %f\\n' % time.time()); t.flush()\n{body}\n"
            f"t.write('{name} end %f\\n' % time.time()); t.flush()\n")
    return [sys.executable, "-c", code]


def trace(out):
    with open(os.path.join(out, "trace")) as f:
        return [(n, what, float(t)) for n, what, t in (line.split() for line in f)]


def stages(out, mllm_body="time.sleep(0.6)\nopen(%r + '/mllm_train.pt', 'w')\ntime.sleep(1.5)", clip_body="pass"):
    """`mllm_body` gets the run folder for its %r (where it writes its first checkpoint)."""
    return {"tokenizer": fake(out, "tokenizer", "time.sleep(0.2)"),
            "mllm": fake(out, "mllm", mllm_body % out),
            "readout": fake(out, "readout", "time.sleep(0.2)"),
            "clip": fake(out, "clip", clip_body)}


def test_side_stages_run_beside_the_mllm_after_its_first_checkpoint(tmp_path):
    out = str(tmp_path)
    record = rebuild.rebuild(out, stages(out), poll=0.05)
    t = {(n, w): s for n, w, s in trace(out)}
    assert t["tokenizer", "end"] <= t["mllm", "start"]
    assert t["mllm", "start"] + 0.5 < t["readout", "start"] < t["mllm", "end"]  # after the checkpoint, beside it
    assert t["readout", "end"] <= t["clip", "start"] and t["clip", "end"] < t["mllm", "end"]
    assert set(record["sessions"][0]["stages"]) == {"tokenizer", "mllm", "readout", "clip"}
    assert all(os.path.isfile(os.path.join(out, "stages", f"{n}.done")) for n in record["sessions"][0]["stages"])
    # A re-run skips what is done.
    os.remove(os.path.join(out, "trace"))
    open(os.path.join(out, "trace"), "w").close()
    again = rebuild.rebuild(out, stages(out), poll=0.05)
    assert trace(out) == [] and len(again["sessions"]) == 2
    with open(os.path.join(out, "rebuild.json")) as f:
        assert json.load(f)["total_minutes"] == again["total_minutes"]


def test_a_failed_side_stage_stops_the_mllm_and_reports_its_log(tmp_path):
    out = str(tmp_path)
    with pytest.raises(RuntimeError, match=r"stage clip failed \(exit 3\)(.|\n)*no such tower"):
        rebuild.rebuild(out, stages(out, mllm_body="open(%r + '/mllm_train.pt', 'w')\ntime.sleep(30)",
                                    clip_body="print('no such tower'); sys.exit(3)"), poll=0.05)
    names = [(n, w) for n, w, _ in trace(out)]
    assert ("mllm", "end") not in names  # terminated, not left running
    assert not os.path.exists(os.path.join(out, "stages", "mllm.done"))
    assert os.path.isfile(os.path.join(out, "stages", "readout.done"))
    # The re-run resumes: the tokenizer and readout are not run again.
    rebuild.rebuild(out, stages(out, mllm_body="open(%r + '/mllm_train.pt', 'w')"), poll=0.05)
    assert [n for n, w, _ in trace(out)[len(names):] if w == "start"] == ["mllm", "clip"]
