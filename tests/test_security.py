"""Issue 13, item 8: each finding of the security read, tried the way an attacker would, and refused.

Model-free: the hostile folders, archives and checkpoints are made here; a marker file proves that no
payload ran (and, where it is cheap, a control shows the same payload does run when loaded unguarded).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from workbench import intake
from workbench.accounts import Access, Accounts, Forbidden, Role, console_access
from workbench.models import importing, memory, safety
from workbench.models import registry as models
from workbench.models.manifest import ModelEntry, write_manifest
from workbench.server.runtime import Runtime
from workbench.speech.options import TranscribeOptions
from workbench.store import Store

PASSWORD = "correct-horse-9"


# --- helpers --------------------------------------------------------------------------------------


def _vad_like(folder: Path) -> Path:
    """A folder `detect_kind` takes for a FunASR VAD model, without real weights."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model: FsmnVAD\n", encoding="utf-8")
    torch.save({"w": torch.zeros(3)}, folder / "model.pt")
    return folder


def _register_by_hand(folder: Path, kind: str, name: str | None = None) -> ModelEntry:
    """A manifest written straight into a folder: what an attacker with the models folder could lay out."""
    files = {p.name: safety.sha256_file(p) for p in folder.iterdir() if p.is_file()}
    entry = ModelEntry(name=name or folder.name, kind=kind, source="by hand", path=folder, files=files)
    write_manifest(entry)
    return entry


class _WritesMarker:
    """Unpickling this runs `open(marker, "w")`: the classic `__reduce__` payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _hostile_checkpoint(path: Path, marker: Path, *, legacy: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": {"w": torch.zeros(2)}, "pyannote.audio": {"evil": _WritesMarker(marker)}}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture
def import_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "import"
    root.mkdir()
    monkeypatch.setenv("WORKBENCH_MODEL_IMPORT_DIR", str(root))
    return root


# --- 1. model import: one folder, archives by name, caps before extraction, default names -------


def test_an_mp3_holding_a_zip_is_never_unpacked(tmp_path: Path) -> None:
    """The attack: upload a model zip as `x.mp3`, then import that path. An archive is known by its name only."""
    source = _vad_like(tmp_path / "vad")
    disguised = tmp_path / "audio" / "x.mp3"
    disguised.parent.mkdir()
    with zipfile.ZipFile(disguised, "w") as z:
        for f in source.iterdir():
            z.write(f, f"vad/{f.name}")
    assert zipfile.is_zipfile(disguised)  # by content it is a zip
    root = tmp_path / "registry"
    with pytest.raises(models.ModelError, match=r"recognised by their name"):
        models.import_model(disguised, models_dir=root)
    assert models.registered(root) == []
    renamed = disguised.with_name("x.zip")
    disguised.rename(renamed)  # the same bytes, honestly named: imported (so the refusal above is the name's)
    assert models.import_model(renamed, models_dir=root).kind == models.FUNASR_VAD


def test_import_dir_is_the_setting_or_data_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_MODEL_IMPORT_DIR", raising=False)
    assert importing.import_dir() == models.settings.data_dir() / "import"
    monkeypatch.setenv("WORKBENCH_MODEL_IMPORT_DIR", str(tmp_path / "drop"))
    assert importing.import_dir() == (tmp_path / "drop").resolve()


def test_the_browser_imports_only_entries_inside_the_import_folder(import_root: Path, tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    _vad_like(import_root / "vad-good")
    outside = _vad_like(tmp_path / "elsewhere" / "vad-outside")
    (import_root / "escape").symlink_to(outside, target_is_directory=True)
    (import_root / "notes.txt").write_text("not a model")
    _vad_like(import_root / ".hidden")
    leaky = _vad_like(import_root / "vad-leaky")
    (tmp_path / "secret.yaml").write_text("password: hunter2")
    (leaky / "extra.yaml").symlink_to(tmp_path / "secret.yaml")
    with zipfile.ZipFile(import_root / "vad.zip", "w") as z:
        for f in (import_root / "vad-good").iterdir():
            z.write(f, f"vad/{f.name}")

    assert importing.import_choices() == ["vad-good", "vad-leaky", "vad.zip"]
    for name in ("../elsewhere/vad-outside", str(outside), "vad-good/../../elsewhere/vad-outside", "..", ".", ""):
        with pytest.raises(models.ModelError, match="directly inside"):
            importing.import_from_import_dir(name, models_dir=registry_dir)
    with pytest.raises(models.ModelError, match="outside the import folder"):
        importing.import_from_import_dir("escape", models_dir=registry_dir)
    with pytest.raises(models.ModelError, match="outside the import folder"):
        importing.import_from_import_dir("vad-leaky", models_dir=registry_dir)
    with pytest.raises(models.ModelError, match="not a folder, nor an archive"):
        importing.import_from_import_dir("notes.txt", models_dir=registry_dir)
    with pytest.raises(models.ModelError, match="directly inside"):
        importing.import_from_import_dir(".hidden", models_dir=registry_dir)
    assert models.registered(registry_dir) == []

    assert importing.import_from_import_dir("vad-good", models_dir=registry_dir).name == "vad-good"
    assert importing.import_from_import_dir("vad.zip", new_name="zipped", models_dir=registry_dir).name == "zipped"
    # the CLI (the admin's tool) still takes any path
    assert models.import_model(outside, models_dir=registry_dir).name == "vad-outside"


def _never_extracts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any attempt to write an archive member: the caps must refuse before the first one."""
    calls: list[str] = []
    real_open = zipfile.ZipFile.open

    def zip_open(self, name, mode="r", *args, **kwargs):
        calls.append(f"zip:{name}")
        return real_open(self, name, mode, *args, **kwargs)

    def tar_extract(self, *args, **kwargs):
        calls.append("tar:extractall")
        raise AssertionError("extracted before the checks")

    monkeypatch.setattr(zipfile.ZipFile, "open", zip_open)
    monkeypatch.setattr(tarfile.TarFile, "extractall", tar_extract)
    return calls


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("vad/config.yaml", "model: FsmnVAD\n")
        z.writestr("vad/model.pt", b"\0" * (64 << 20))  # 64 MB of zeros: ~64 KB compressed, ratio ~1000:1
    assert bomb.stat().st_size < 1 << 20
    calls = _never_extracts(monkeypatch)
    with pytest.raises(models.ModelError, match="compression bomb"):
        models.import_model(bomb, models_dir=tmp_path / "registry")
    assert calls == []


def test_archive_caps_on_size_and_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_MODEL_ARCHIVE_MAX_MB", "1")
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w") as z:
        z.writestr("vad/config.yaml", "model: FsmnVAD\n")
        z.writestr("vad/model.pt", os.urandom(2 << 20))
    calls = _never_extracts(monkeypatch)
    with pytest.raises(models.ModelError, match=r"more than 1 MB \(setting model_archive_max_mb\)"):
        models.import_model(big, models_dir=tmp_path / "registry")
    monkeypatch.delenv("WORKBENCH_MODEL_ARCHIVE_MAX_MB")
    monkeypatch.setattr(importing, "ARCHIVE_MAX_MEMBERS", 5)
    many = tmp_path / "many.tar"
    with tarfile.open(many, "w") as t:
        for i in range(6):
            info = tarfile.TarInfo(f"vad/f{i}.txt")
            info.size = 1
            t.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(models.ModelError, match="more than 5 members"):
        models.import_model(many, models_dir=tmp_path / "registry")
    assert calls == []


def _tar_with(path: Path, member: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as t:
        config = tarfile.TarInfo("vad/config.yaml")
        data = b"model: FsmnVAD\n"
        config.size = len(data)
        t.addfile(config, io.BytesIO(data))
        t.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("symlink", "vad/model.pt", "link or device"),
        ("hardlink", "vad/model.pt", "link or device"),
        ("device", "vad/model.pt", "link or device"),
        ("fifo", "vad/model.pt", "link or device"),
        ("file", "/tmp/absolute-escape.txt", "outside the target folder"),
        ("file", "vad/../../dotdot-escape.txt", "outside the target folder"),
    ],
)
def test_hostile_tar_members_are_refused_before_extraction(
    kind: str, name: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = tarfile.TarInfo(name)
    if kind == "symlink":
        member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
    elif kind == "hardlink":
        member.type, member.linkname = tarfile.LNKTYPE, "/etc/passwd"
    elif kind == "device":
        member.type, member.devmajor, member.devminor = tarfile.CHRTYPE, 1, 3
    elif kind == "fifo":
        member.type = tarfile.FIFOTYPE
    else:
        member.size = 1
    archive = _tar_with(tmp_path / "hostile.tgz", member)
    calls = _never_extracts(monkeypatch)
    with pytest.raises(models.ModelError, match=message):
        models.import_model(archive, models_dir=tmp_path / "registry")
    assert calls == []
    assert not Path("/tmp/absolute-escape.txt").exists() and not (tmp_path.parent / "dotdot-escape.txt").exists()


def test_a_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("vad/config.yaml", "model: FsmnVAD\n")
        link = zipfile.ZipInfo("vad/model.pt")
        link.external_attr = (0o120777) << 16  # a symlink, as Info-ZIP stores one
        z.writestr(link, "/etc/passwd")
    with pytest.raises(models.ModelError, match="link or special member"):
        models.import_model(archive, models_dir=tmp_path / "registry")


@pytest.mark.parametrize("default", ["whisper-base", "pyannote-segmentation-3.0", "campplus-zh-en", "FSMN-VAD"])
def test_a_default_name_is_never_imported_over(default: str, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    source = _vad_like(tmp_path / "replacement")
    for force in (False, True):
        with pytest.raises(models.ModelError, match="pinned default model"):
            models.import_model(source, name=default, models_dir=root, force=force)
    named_like = _vad_like(tmp_path / "by-folder" / default.lower())  # the name taken from the folder
    with pytest.raises(models.ModelError, match="pinned default model"):
        models.import_model(named_like, models_dir=root, force=True)
    assert models.registered(root) == []


def test_another_name_is_replaced_only_with_force(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    first = models.import_model(_vad_like(tmp_path / "a"), name="vad", models_dir=root)
    other = _vad_like(tmp_path / "b")
    torch.save({"w": torch.ones(3)}, other / "model.pt")
    with pytest.raises(models.ModelError, match="already registered; pass --name, or --force"):
        models.import_model(other, name="vad", models_dir=root)
    assert models.get("vad", root).files == first.files
    replaced = models.import_model(other, name="vad", models_dir=root, force=True)
    assert replaced.files != first.files and models.get("vad", root).files == replaced.files


# --- 2. no remote code ----------------------------------------------------------------------------


def _funasr_with_code(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model: Paraformer\n", encoding="utf-8")
    torch.save({"w": torch.zeros(2)}, folder / "model.pt")
    (folder / "model.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n", encoding="utf-8")
    return folder


def test_a_model_folder_with_python_is_refused_at_import_and_at_load(tmp_path: Path) -> None:
    from workbench.speech.asr import AsrError, FunAsrEngine

    marker = tmp_path / "marker"
    folder = _funasr_with_code(tmp_path / "fun-asr-nano", marker)
    with pytest.raises(models.ModelError, match=r"程序文件 model\.py"):
        models.import_model(folder, models_dir=tmp_path / "registry")
    for compiled in ("model.pyc", "__pycache__/model.cpython-311.pyc"):
        other = _funasr_with_code(tmp_path / f"with-{compiled.replace('/', '-')}", marker)
        (other / "model.py").unlink()
        (other / compiled).parent.mkdir(exist_ok=True)
        (other / compiled).write_bytes(b"\0")
        with pytest.raises(models.ModelError, match="carrying code"):
            models.import_model(other, models_dir=tmp_path / "registry")

    entry = _register_by_hand(folder, models.FUNASR_ASR)  # laid out by hand, as if import had let it in
    entry.detail = {"class": "FunASRNano"}
    with pytest.raises(AsrError, match="程序文件"):
        FunAsrEngine(entry, entry, device="cpu")
    with pytest.raises(models.ModelError, match="程序文件"):
        memory.load(("funasr-test", str(folder)), entry.name, folder, lambda: pytest.fail("loader ran"))
    assert not marker.exists()


def test_a_config_asking_for_remote_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.py"  # outside the folder: no .py in it, the config points out
    evil.write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "config.yaml").write_text(
        yaml.safe_dump({"model": "Paraformer", "trust_remote_code": True, "remote_code": str(evil)})
    )
    torch.save({"w": torch.zeros(2)}, folder / "model.pt")
    with pytest.raises(models.ModelError, match="remote code"):
        models.import_model(folder, models_dir=tmp_path / "registry")
    json_folder = _vad_like(tmp_path / "remote-json")
    (json_folder / "configuration.json").write_text(json.dumps({"model": {"trust_remote_code": "yes"}}))
    with pytest.raises(models.ModelError, match="trust_remote_code"):
        models.import_model(json_folder, models_dir=tmp_path / "registry")
    assert not marker.exists()


@pytest.mark.parametrize("where", ["configuration.json", "config.yaml"])
def test_a_config_pointing_at_weights_outside_its_folder_is_refused(where: str, tmp_path: Path) -> None:
    """FunASR takes `init_param` (and cmvn, tokenizer files) from the config as given: weights outside the
    folder would load unscanned and unpinned."""
    outside = tmp_path / "elsewhere.pt"
    torch.save({"w": torch.zeros(2)}, outside)
    folder = _vad_like(tmp_path / "vad")
    if where == "configuration.json":
        (folder / "configuration.json").write_text(json.dumps({"file_path_metas": {"init_param": str(outside)}}))
    else:
        config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
        config["init_param"] = "../../elsewhere.pt"  # from where the import puts it: registry/vad/
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(models.ModelError, match="outside the model folder"):
        models.import_model(folder, models_dir=tmp_path / "registry")


def test_our_funasr_loader_overrides_a_config_trusting_remote_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the folder checks switched off, FunASR still never imports the config's code.

    The control (FunASR's AutoModel without our keyword) does import it, so the test sees a real attack.
    """
    from funasr import AutoModel

    from workbench.speech.asr import AsrError, FunAsrEngine

    marker = tmp_path / "marker"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "config.yaml").write_text(
        yaml.safe_dump({"model": "Paraformer", "trust_remote_code": True, "remote_code": str(evil)})
    )
    (folder / "model.pt").write_bytes(b"not weights")
    entry = _register_by_hand(folder, models.FUNASR_ASR)
    monkeypatch.setattr(safety, "check_before_load", lambda root: None)
    with pytest.raises(AsrError):
        FunAsrEngine(entry, entry, device="cpu")  # fails on the junk weights, after FunASR read the config
    assert not marker.exists()
    with pytest.raises(Exception):  # noqa: B017 - FunASR raises whatever it raises on junk weights
        AutoModel(model=str(folder), disable_update=True, log_level="ERROR")
    assert marker.exists()  # the control: unguarded, the config's code ran


# --- 3. pickles that run code ------------------------------------------------------------------------


def test_a_segmentation_checkpoint_that_runs_code_is_refused(tmp_path: Path) -> None:
    from workbench.speech.diarization.segmentation import load_segmentation
    from workbench.speech.diarization.types import DiarizationError

    marker = tmp_path / "marker"
    folder = tmp_path / "segmentation"
    _hostile_checkpoint(folder / "pytorch_model.bin", marker)
    config = {"model": {"_target_": "pyannote.audio.models.segmentation.PyanNet"}, "task": {"_target_": "Seg"}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))

    with pytest.raises(DiarizationError, match="not a plain-tensor pyannote checkpoint"):
        load_segmentation(folder, "cpu")
    with pytest.raises(models.ModelError, match=r"builtins\.exec"):
        safety.scan_pickle_file(folder / "pytorch_model.bin")
    with pytest.raises(models.ModelError, match="would run code"):
        models.import_model(folder, models_dir=tmp_path / "registry")
    _register_by_hand(folder, models.PYANNOTE_SEGMENTATION)
    with pytest.raises(models.ModelError, match="would run code"):
        memory.load(("seg-test", str(folder)), "seg", folder, lambda: pytest.fail("loader ran"))
    assert not marker.exists()

    control = tmp_path / "control-marker"
    _hostile_checkpoint(tmp_path / "control.bin", control)
    torch.load(tmp_path / "control.bin", weights_only=False)  # what pyannote's own loader does
    assert control.exists()


@pytest.mark.parametrize("form", ["legacy torch", "pickle protocol 4", "pickle protocol 0"])
def test_the_scan_reads_every_pickle_form(form: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "weights.pt"
    if form == "legacy torch":
        _hostile_checkpoint(path, marker, legacy=True)
    else:
        path.write_bytes(pickle.dumps({"a": _WritesMarker(marker)}, protocol=4 if form.endswith("4") else 0))
    with pytest.raises(models.ModelError, match="exec"):
        safety.scan_pickle_file(path)
    assert not marker.exists()


@pytest.mark.parametrize("trick", ["a zip appended to a pickle", "a string pickletools cannot decode"])
def test_the_scan_is_not_fooled_by_what_torch_reads_differently(trick: str, tmp_path: Path) -> None:
    """Each of these passed an earlier scan and ran its payload in `torch.load(weights_only=False)`:
    torch chooses its zip format by the first four bytes (zipfile finds a zip anywhere), and its
    unpickler decodes a STRING opcode as UTF-8 (pickletools refuses it)."""
    marker = tmp_path / "marker"
    payload = f"cposix\nsystem\n(Vtouch {marker}\ntR.".encode()
    path = tmp_path / "weights.bin"
    if trick.startswith("a zip"):
        zipped = io.BytesIO()
        torch.save({"w": torch.zeros(2)}, zipped)
        path.write_bytes(payload + zipped.getvalue())
    else:
        path.write_bytes(b"S'\xc3\xa9'\n0" + payload)
    with pytest.raises(models.ModelError, match=r"refus|拒绝"):
        safety.scan_pickle_file(path)
    with contextlib.suppress(Exception):  # the control: torch runs it (then fails on what follows)
        torch.load(path, weights_only=False)
    assert marker.exists()


def test_the_real_checkpoints_pass_the_scan(models_dir: Path) -> None:
    for name in ("pyannote-segmentation-3.0", "campplus-zh-en", "fsmn-vad"):
        for file in safety.checkpoint_files(models_dir / name, None):
            safety.scan_pickle_file(file)


# --- 4. a pinned default's sha256, at load ------------------------------------------------------------


def test_a_tampered_default_is_refused_at_load(tmp_path: Path, models_dir: Path) -> None:
    copy = tmp_path / "models" / "fsmn-vad"
    shutil.copytree(models_dir / "fsmn-vad", copy)
    safety.check_before_load(copy)  # intact: passes
    weights = copy / "model.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    weights.write_bytes(bytes(data))
    manifest = json.loads((copy / "model.json").read_text())
    manifest["files"]["model.pt"] = safety.sha256_file(weights)  # the manifest "fixed" too: the pins still hold
    (copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(models.ModelError, match=r"model\.pt: 默认模型文件已被改动"):
        safety.check_before_load(copy)
    with pytest.raises(models.ModelError, match=str(weights)):
        memory.load(("vad-test", str(copy)), "fsmn-vad", copy, lambda: pytest.fail("loader ran"))


def test_the_pin_check_hashes_once_per_process(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "models" / "pyannote-segmentation-3.0"
    shutil.copytree(models_dir / "pyannote-segmentation-3.0", copy)
    hashed: list[Path] = []
    real = safety.sha256_file
    monkeypatch.setattr(safety, "sha256_file", lambda p: hashed.append(Path(p)) or real(p))
    safety.check_before_load(copy)
    first = len(hashed)
    assert first == 2  # pytorch_model.bin and config.yaml
    safety.check_before_load(copy)
    assert len(hashed) == first  # cached by path, size and mtime
    os.utime(copy / "config.yaml", ns=(time.time_ns(), time.time_ns() + 10**9))
    safety.check_before_load(copy)
    assert len(hashed) == first + 1  # a changed file is hashed again


# --- 5. files already on the server -----------------------------------------------------------------


@pytest.fixture
def upload_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "recordings"
    root.mkdir()
    monkeypatch.setenv("WORKBENCH_INGEST_ROOTS", f"{tmp_path / 'nowhere'};{root}")
    with Store(tmp_path / "w.duckdb") as store:
        console = console_access(store, "tester")
        accounts = Accounts(store)
        people = {
            name: Access(store, accounts.add(name, role, by=console.actor, password=PASSWORD)[0], "10.0.0.9")
            for name, role in (
                ("clerk", Role.CLERK),
                ("judge", Role.JUDGE),
                ("viewer", Role.VIEWER),
                ("admin", Role.ADMIN),
            )
        }
        store.add_case("（2024）京0105民初9号", actor=console.actor)  # nobody above is a member
        yield Runtime(store), root, people


def _submit(rt: Runtime, access: Access, case: str = "（2024）京0105民初1号", **kwargs):
    return intake.submit_uploads(
        rt, kwargs.pop("files", []), intake.HearingDetails(case), TranscribeOptions.from_settings(), access=access,
        **kwargs,
    )  # fmt: skip


def test_server_paths_only_under_the_ingest_roots(upload_world, tmp_path: Path, monkeypatch) -> None:
    rt, root, people = upload_world
    clerk = people["clerk"]
    secret = tmp_path / "outside" / "secret.mp3"
    secret.parent.mkdir()
    secret.write_bytes(b"not yours")
    (root / "link.mp3").symlink_to(secret)
    (root / "notes.txt").write_text("x")
    (root / "notes-link.mp3").symlink_to(root / "notes.txt")
    refusals = {
        str(secret): "不在允许导入的目录中",
        str(root / ".." / "outside" / "secret.mp3"): "outside the ingest roots",
        str(root / "link.mp3"): "links are followed",
        str(root / "notes-link.mp3"): "not a recording",
        str(root / "notes.txt"): "不是支持的录音格式",
        str(root / "missing.mp3"): "no such file",
        "recordings/relative.mp3": "absolute path",
        "/etc/passwd\x00.mp3": "not a valid path",
    }
    for path, message in refusals.items():
        with pytest.raises(ValueError, match=message):
            _submit(rt, clerk, paths=[path])
    big = root / "big.wav"
    big.write_bytes(b"\0" * (2 << 20))
    monkeypatch.setenv("WORKBENCH_INGEST_MAX_MB", "1")
    with pytest.raises(ValueError, match="ingest_max_mb"):
        _submit(rt, clerk, paths=[str(big)])
    monkeypatch.setenv("WORKBENCH_INGEST_ROOTS", "")
    with pytest.raises(ValueError, match="no ingest roots"):
        _submit(rt, clerk, paths=[str(big)])
    assert rt.store.hearings() == []

    monkeypatch.setenv("WORKBENCH_INGEST_ROOTS", str(root))
    monkeypatch.delenv("WORKBENCH_INGEST_MAX_MB")
    (root / "day").mkdir()
    good = root / "day" / "0930.mp3"
    good.write_bytes(b"audio bytes")
    (subs,) = _submit(rt, clerk, paths=[str(good)])
    assert not subs.duplicate and subs.file == good.resolve()


def test_server_paths_are_for_admins_and_clerks(upload_world) -> None:
    rt, root, people = upload_world
    good = root / "a.wav"
    good.write_bytes(b"wav")
    for name in ("judge", "viewer"):
        with pytest.raises(Forbidden):
            _submit(rt, people[name], paths=[str(good)])
    assert len(_submit(rt, people["admin"], paths=[str(good)])) == 1


def test_uploading_into_a_case_one_may_not_see_is_refused(upload_world) -> None:
    rt, _root, people = upload_world
    with pytest.raises(Forbidden, match="不是其成员"):
        _submit(rt, people["clerk"], "（2024）京0105民初9号", files=[("a.mp3", io.BytesIO(b"x"))])
    with pytest.raises(Forbidden, match="may not upload"):
        _submit(rt, people["viewer"], files=[("a.mp3", io.BytesIO(b"x"))])
    with pytest.raises(ValueError, match="不是支持的录音格式"):
        _submit(rt, people["clerk"], files=[("model.zip", io.BytesIO(b"PK"))])
    assert rt.store.hearings() == []
    (sub,) = _submit(rt, people["clerk"], files=[("a.mp3", io.BytesIO(b"x"))])  # a new case: allowed, joined
    case = rt.store.case("（2024）京0105民初1号")
    assert people["clerk"].can_see_case(case.id)
    assert sub.hearing_id in {h.id for h in people["clerk"].hearings()}


# --- 6. the parties field ------------------------------------------------------------------------------


def test_parties_parse_as_before() -> None:
    parsed = intake.parse_parties("原告：张三；代理人：李四、王五\n\n被告: 某某有限公司 \n 第三人 ： 赵六 ; 钱七,孙八")
    assert [(p.role, p.name, p.representatives) for p in parsed] == [
        ("原告", "张三", ("李四", "王五")),
        ("被告", "某某有限公司", ()),
        ("第三人", "赵六", ("钱七", "孙八")),
    ]
    with pytest.raises(ValueError, match="角色：名称"):
        intake.parse_parties("张三")
    with pytest.raises(ValueError, match="角色：名称"):
        intake.parse_parties("原告：   ")


@pytest.mark.parametrize(
    "hostile",
    [
        "原告：" + " " * 100_000 + "x",  # the old regex's worst case: quadratic in the spaces
        "a" * 100_000,
        ("原告：张三\n" * 20_000),
    ],
    ids=["spaces", "no-colon", "many-lines"],
)
def test_100k_characters_of_parties_are_refused_fast(hostile: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="at most 2000 characters"):
        intake.parse_parties(hostile)
    assert time.perf_counter() - started < 0.05


def test_the_worst_case_within_the_cap_is_linear() -> None:
    worst = "原告：" + " " * (intake.PARTIES_MAX_CHARS - 4) + "x"
    started = time.perf_counter()
    assert intake.parse_parties(worst)[0].name == "x"
    no_colon = " " * (intake.PARTIES_MAX_CHARS - 1) + "x"
    with pytest.raises(ValueError, match="角色：名称"):
        intake.parse_parties(no_colon)
    assert time.perf_counter() - started < 0.05
    with pytest.raises(ValueError, match="at most 50 parties"):
        intake.parse_parties("\n".join(f"原告：{i}" for i in range(51)))


def test_a_pipeline_config_may_not_point_out_of_its_folder(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    outside = _hostile_checkpoint(tmp_path / "elsewhere" / "pytorch_model.bin", marker)
    diarization = "pyannote.audio.pipelines.SpeakerDiarization"
    cases = {
        "abs": ({"name": diarization, "params": {"segmentation": str(outside)}}, "outside"),
        "dotdot": ({"name": diarization, "params": {"segmentation": "$model/../x"}}, "leaves"),
        "class": ({"name": "evil.module.SpeakerDiarization", "params": {}}, "not one of pyannote's"),
    }
    for label, (pipeline, message) in cases.items():
        folder = tmp_path / f"pipeline-{label}"
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump({"pipeline": pipeline}))
        with pytest.raises(models.ModelError, match=message):
            models.import_model(folder, models_dir=tmp_path / "registry")
    assert not marker.exists()
