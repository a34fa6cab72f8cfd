"""Model libraries stay out of processes that do not run them: the whisper CLI path and the web server at rest.

torch alone is ~300 MB of RSS and seconds of start-up; pyannote, torchaudio and funasr bring it with them.
`workbench transcribe --no-diarize` on the Whisper engine needs none of them (CTranslate2 and onnxruntime's
Silero VAD do the work), and the web server none at all (jobs run in a child process). Each check runs in a
fresh interpreter (this file run as a script), since the test process itself has long imported everything;
the child prints, at exit, the model libraries found in `sys.modules` as one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# The libraries only diarization, the channel voices and the FunASR engine need.
FORBIDDEN = ("torch", "torchaudio", "pyannote", "funasr")
# What only the store and the court record need: a CLI verb that writes files, not the database, does without.
STORE_LIBRARIES = ("duckdb", "docx")
MARK = "IMPORT-BUDGET "
CHILD_TIMEOUT_S = 600


def _loaded_watched_libraries() -> list[str]:
    tops = {name.partition(".")[0] for name in sys.modules}
    watched = (*FORBIDDEN, "ctranslate2", "faster_whisper", "onnxruntime", *STORE_LIBRARIES)
    return sorted(t for t in tops if t in watched)


def _report_at_exit(extra: dict[str, object] | None = None) -> None:
    import atexit

    import psutil

    def report() -> None:
        line = {"modules": _loaded_watched_libraries(), "rss": psutil.Process().memory_info().rss, **(extra or {})}
        print(MARK + json.dumps(line), flush=True)

    atexit.register(report)


def _child_cli(argv: list[str]) -> None:
    """`workbench ARGV...` in this process, as the console script runs it."""
    from workbench.cli import main

    _report_at_exit()
    main.main(args=argv, prog_name="workbench")


def _child_server(data: str) -> None:
    """The server's modules at rest: the ASGI app and the API imported, the app and the system page drawn
    under AppTest as a signed-in administrator, and three API requests answered, no job ever run."""
    os.environ["WORKBENCH_DATA"] = data
    os.environ["WORKBENCH_DB"] = str(Path(data) / "wb.duckdb")
    os.environ["WORKBENCH_WORKERS"] = "0"
    from streamlit.testing.v1 import AppTest

    import workbench.api.http  # the API's HTTP door, as `workbench serve` mounts it
    import workbench.web.asgi  # noqa: F401  the server itself (Streamlit's App, the guard, our routes)
    from workbench.accounts import Access, Accounts, Role, Sessions, console_access
    from workbench.api import core
    from workbench.api.core import Call
    from workbench.store import Store
    from workbench.web.session import SESSION_KEY

    store = Store(Path(data) / "wb.duckdb")
    account, _ = Accounts(store).add(
        "admin1", Role.ADMIN, by=console_access(store).actor, password="a long enough test password 42",
        must_change=False,
    )  # fmt: skip
    token = Sessions(store).start(account, "127.0.0.1")
    errors: list[str] = []
    at = AppTest.from_file(str(REPO / "workbench" / "web" / "app.py"), default_timeout=120)
    at.session_state[SESSION_KEY] = token
    at.run()
    at.switch_page(str(REPO / "pages" / "system.py"))  # models, memory, the worker: the page nearest to them
    at.run()
    errors += [str(e.value) for e in at.exception]
    statuses = []
    for path in ("/health", "/models", "/jobs"):
        reply = core.dispatch(Call(Access(store, account, "api:test@admin1"), local=True), "GET", path, None)
        statuses.append(reply.status)
    store.close()
    _report_at_exit({"errors": errors, "statuses": statuses})


def _run_child(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    lines = [line[len(MARK) :] for line in proc.stdout.splitlines() if line.startswith(MARK)]
    assert proc.returncode == 0 and lines, (
        f"child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return json.loads(lines[-1])


def test_transcribe_without_diarization_never_imports_torch(models_dir: Path, tmp_path: Path) -> None:
    from conftest import clip

    out = tmp_path / "out"
    report = _run_child(
        "cli", "transcribe", str(clip("en_jfk.flac")), "--out", str(out), "--no-diarize", "--engine", "whisper",
        "--device", "auto",
    )  # fmt: skip
    transcript = json.loads((out / "en_jfk.json").read_text(encoding="utf-8"))
    assert transcript["segments"], "the clip was not transcribed: the check would prove nothing"
    assert "ctranslate2" in report["modules"], report  # the child really ran Whisper
    assert not set(FORBIDDEN) & set(report["modules"]), f"imported {report['modules']}"
    # nor the database and python-docx (~70 MB): each CLI verb's module is imported only when it runs
    assert not set(STORE_LIBRARIES) & set(report["modules"]), f"imported {report['modules']}"


def test_the_web_server_at_rest_imports_no_model_library(models_dir: Path, tmp_path: Path) -> None:
    report = _run_child("server", str(tmp_path))
    assert report["errors"] == [], report["errors"]
    assert report["statuses"] == [200, 200, 200], report
    assert not set(FORBIDDEN) & set(report["modules"]), f"imported {report['modules']}"
    # CTranslate2 and onnxruntime are no server's business either: only a job's child runs models
    assert not {"ctranslate2", "faster_whisper", "onnxruntime"} & set(report["modules"]), report["modules"]


def test_diarization_does_not_load_transformers_models_for_torchmetrics() -> None:
    """pyannote brings Lightning and torchmetrics; torchmetrics would import transformers' AutoModel at once."""
    report = _run_child("diarization")
    assert {"pyannote", "torchmetrics"} <= set(report["tops"])  # the path that loaded them ran
    loaded = [n for n in report["all"] if n.startswith(("transformers.models", "transformers.modeling_utils"))]
    assert not loaded, loaded[:5]
    # only torchmetrics' transformers checks answer no; its others are left to find what is installed
    assert report["checks"] == {"_TRANSFORMERS_AVAILABLE": False, "_MATPLOTLIB_AVAILABLE": True}, report["checks"]


def test_the_check_sees_an_import() -> None:
    """The child's report does list a model library that was imported (else the tests above prove nothing)."""
    pytest.importorskip("torch")
    assert "torch" not in _run_child("cli", "--help")["modules"]
    assert "torch" in _run_child("import-torch")["modules"]


def test_a_package_init_is_skipped_for_one_module_and_runs_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.models.imports import without_package_init

    package = tmp_path / "heavypkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("import sys\nsys.heavypkg_init_ran = True\nWHOLE = True\n")
    (package / "models" / "__init__.py").write_text("")
    (package / "models" / "one.py").write_text("from heavypkg.models import two\nclass One:\n    other = two.Two\n")
    (package / "models" / "two.py").write_text("class Two:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delattr(sys, "heavypkg_init_ran", raising=False)
    with without_package_init("heavypkg"):
        from heavypkg.models.one import One
    assert One.other.__name__ == "Two"
    assert not hasattr(sys, "heavypkg_init_ran")  # the package's __init__ never ran
    assert not [name for name in sys.modules if name.startswith("heavypkg")]  # the stand-in is gone
    import heavypkg

    assert heavypkg.WHOLE and sys.heavypkg_init_ran  # a later import gets the real package
    for name in [n for n in sys.modules if n.startswith("heavypkg")]:
        monkeypatch.delitem(sys.modules, name)


def test_release_drops_only_the_kinds_named_and_frees_them(tmp_path: Path) -> None:
    import gc
    import weakref

    from workbench.models import memory

    class Model:
        pass

    whisper = memory.load(("test-asr", "a"), "asr-model", tmp_path, Model)
    other = memory.load(("test-diarization", "b"), "diarization-model", tmp_path, Model)
    gone = weakref.ref(whisper)
    del whisper
    try:
        assert memory.release(("test-asr",)) == ["asr-model"]
        gc.collect()
        assert gone() is None  # nothing else kept the released model alive
        assert [m.name for m in memory.loaded() if m.key[0].startswith("test-")] == ["diarization-model"]
        assert memory.load(("test-diarization", "b"), "diarization-model", tmp_path, Model) is other
    finally:
        memory.release(("test-asr", "test-diarization"))


_HEAPS_AFTER_FOUR_THREADS = """
import ctypes, sys, tempfile, threading
if sys.argv[1] == "one":
    from workbench.models import memory
    memory.one_heap_arena()
together = threading.Barrier(4)
def work():
    together.wait()  # all four allocate at once, as a model's worker threads do
    held = [bytearray(65536) for _ in range(50)]  # below glibc's mmap threshold: from an arena
    together.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile("r") as out:
    stream = ctypes.c_void_p(libc.fopen(out.name.encode(), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(out.read().count("<heap nr="))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_one_heap_arena_keeps_the_threads_of_a_model_process_on_one_heap() -> None:
    """Job children and the CLI call `one_heap_arena()`: four threads then allocate from glibc's one heap,
    where by default they get arenas of their own (each keeping what its thread freed)."""

    def heaps(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", _HEAPS_AFTER_FOUR_THREADS, mode], capture_output=True, text=True, cwd=REPO,
            timeout=CHILD_TIMEOUT_S,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        return int(run.stdout)

    assert heaps("default") > 1  # else this check could not tell
    assert heaps("one") == 1


@pytest.mark.slow
def test_releasing_the_recogniser_between_stages_changes_no_result(models_dir: Path) -> None:
    """`workbench transcribe`'s one-shot release gives the same transcript as the server's keep-everything run."""
    from conftest import TESTDATA

    from workbench.models import memory
    from workbench.speech.options import TranscribeOptions
    from workbench.speech.pipeline import transcribe

    path = TESTDATA / "diarization" / "pyannote_sample.wav"
    options = TranscribeOptions(engine="whisper", language="en", diarize=True, device="cpu")
    kept = transcribe(path, options)
    assert any(m.key[0] == "whisper" for m in memory.loaded())
    released = transcribe(path, options, release_between_stages=True)
    assert not any(m.key[0] == "whisper" for m in memory.loaded())  # gone before diarization loaded its models
    assert any(m.key[0] == "campplus" for m in memory.loaded())
    assert kept.segments and len({s.speaker for s in kept.segments}) == 2
    assert [(s.start, s.end, s.text, s.speaker) for s in released.segments] == [
        (s.start, s.end, s.text, s.speaker) for s in kept.segments
    ]
    assert released.speakers == kept.speakers and released.engine == kept.engine


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    kind, rest = sys.argv[1], sys.argv[2:]
    if kind == "cli":
        _child_cli(rest)
    elif kind == "server":
        _child_server(rest[0])
    elif kind == "diarization":
        import workbench.speech.diarization.streaming  # noqa: F401  pyannote, Lightning, torchmetrics

        checks = sys.modules["torchmetrics.utilities.imports"]
        answers = {name: bool(getattr(checks, name)) for name in ("_TRANSFORMERS_AVAILABLE", "_MATPLOTLIB_AVAILABLE")}
        tops = sorted({n.partition(".")[0] for n in sys.modules})
        _report_at_exit({"tops": tops, "all": sorted(sys.modules), "checks": answers})
    elif kind == "import-torch":
        import torch  # noqa: F401

        _report_at_exit()
    else:
        raise SystemExit(f"unknown child {kind!r}: cli, server, diarization or import-torch")
