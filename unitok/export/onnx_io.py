"""Writing ONNX files safely: external data past the protobuf limit, and all-or-nothing output folders."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile

import onnx
from onnx.external_data_helper import convert_model_to_external_data

# Protobuf refuses messages of 2 GiB; keep a margin for the graph itself.
EXTERNAL_DATA_THRESHOLD = 1900 * 2**20


def initializer_bytes(model: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) for t in model.graph.initializer)


def save_onnx(model: onnx.ModelProto, path: str) -> int:
    """Save a model, moving initializers to `<file>.data` when the whole would pass the 2 GB protobuf limit.

    Returns the bytes written (graph plus external data)."""
    if initializer_bytes(model) > EXTERNAL_DATA_THRESHOLD:
        data_name = os.path.basename(path) + ".data"
        convert_model_to_external_data(model, all_tensors_to_one_file=True, location=data_name, size_threshold=1024)
        onnx.save(model, path)
        return os.path.getsize(path) + os.path.getsize(os.path.join(os.path.dirname(path), data_name))
    onnx.save(model, path)
    return os.path.getsize(path)


@contextlib.contextmanager
def atomic_output_dir(out_dir: str):
    """Yield a temp folder beside out_dir; on success it replaces out_dir, on any failure it is removed.

    out_dir may exist only if empty, so a conversion never mixes old and new files. SIGTERM is turned into an
    exception so that a killed conversion also cleans up."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise FileExistsError(f"output folder {out_dir} exists and is not empty; choose another or remove it")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.partial-", dir=parent)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term) if _main_thread() else None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private; the result is an ordinary folder
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
