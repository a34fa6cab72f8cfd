"""One registry of settings, feeding the CLI flags, the UI's system page and the README table.

A value comes from, in order: an explicit argument (CLI flag, UI widget), the environment variable
`WORKBENCH_<NAME>`, the saved overrides in `<data_dir>/settings.json`, then the default here.

Paths are absolute once they leave this module, whatever the working directory: the data folder is
the setting (a relative value is taken from where the command was typed) or, by default, the
checkout's own `data/`, so `workbench hearings list` run from another folder finds the same store
instead of silently making an empty one there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGES = ("auto", "zh", "en", "yue", "ja", "ko")
CHECKOUT = Path(__file__).resolve().parents[1]
ENGINES = ("whisper", "funasr")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    env_name: str | None = None  # when not WORKBENCH_<NAME>
    bounds: tuple[float, float] | None = None  # the lowest and highest a number may be

    @property
    def env(self) -> str:
        return self.env_name or "WORKBENCH_" + self.name.upper()

    def parse(self, raw: str) -> Any:
        """Turns a string (environment, form field) into this setting's type."""
        if isinstance(self.default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{self.name}: expected true or false, got {raw!r}")
        if isinstance(self.default, int):
            return int(raw)
        if isinstance(self.default, float):
            value = float(raw)
            low, high = self.bounds or (float("-inf"), float("inf"))
            if not low <= value <= high:  # NaN too: it compares false
                raise ValueError(f"{self.name}: expected a number from {low:g} to {high:g}, got {raw!r}")
            return value
        if self.choices and raw not in self.choices:
            raise ValueError(f"{self.name}: expected one of {', '.join(self.choices)}, got {raw!r}")
        return raw


REGISTRY: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting(
            "data_dir",
            "",
            "Folder for runtime state: database, audio, models; empty means the checkout's data/.",
            env_name="WORKBENCH_DATA",
        ),
        Setting("models_dir", "", "Model folder; empty means <data_dir>/models.", env_name="WORKBENCH_MODELS"),
        Setting("db", "", "DuckDB file; empty means <data_dir>/workbench.duckdb."),
        Setting("engine", "whisper", "Speech recognition engine.", ENGINES),
        Setting("asr_model", "", "Registered ASR model name; empty means the engine's default."),
        Setting("language", "auto", "Spoken language; auto detects it per file.", LANGUAGES),
        Setting("itn", True, "Inverse text normalisation: numbers, dates, money as digits."),
        Setting("speakers", "auto", "Speaker count for diarization: auto, N, or MIN-MAX."),
        Setting("diarize", True, "Find who spoke when."),
        Setting("device", "auto", "Where models run: auto uses a GPU when present.", ("auto", "cpu", "cuda")),
        Setting("cpu_threads", 2, "CPU threads for the models (0 = all cores)."),
        Setting("batch_size", 4, "Speech windows decoded together by the Whisper engine (memory grows with it)."),
        Setting(
            "workers",
            1,
            "Jobs processed at once by the server's worker; 0 = none in this server (`workbench jobs work` runs them).",
        ),
        Setting("db_lock_timeout", 10, "Seconds to wait for another process to release the database file."),
        Setting("db_threads", 1, "DuckDB threads per query (0 = all cores); 1 keeps searches steady beside a job."),
        # Accounts and sign-in (workbench.accounts).
        Setting(
            "session_idle_minutes", 30, "Minutes without activity after which a browser session must sign in again."
        ),
        Setting("password_min_length", 10, "Fewest characters a password may have."),
        Setting("ldap_url", "", "Directory sign-in: ldap:// or ldaps:// URL of the LDAP / AD server; empty means off."),
        Setting(
            "ldap_user_dn",
            "uid={name},ou=people,dc=court,dc=local",
            "Directory sign-in: the DN a user binds as, {name} being the name typed (AD: {name}@court.local).",
        ),
        Setting("ldap_group_base", "ou=groups,dc=court,dc=local", "Directory sign-in: where the role groups are."),
        Setting(
            "ldap_roles",
            "admin=wb-admins,judge=wb-judges,clerk=wb-clerks,viewer=wb-viewers",
            "Directory sign-in: role=group cn pairs; a user in none of the groups cannot sign in.",
        ),
        Setting(
            "ldap_ca_file",
            "",
            "Directory sign-in over ldaps://: the CA certificate (PEM) of the server's; empty means the system's CAs.",
        ),
        # Where files may come from on the server itself (admin tools), and how big they may be.
        Setting(
            "ingest_roots",
            "",
            "Folders (separated by ;) whose audio files may be added from the server; empty means none.",
        ),
        Setting("ingest_max_mb", 4096, "Largest audio file, in MB, taken from the server's folders."),
        Setting(
            "model_import_dir",
            "",
            "The one folder models are imported from in the browser; empty means <data_dir>/import.",
        ),
        Setting("model_archive_max_mb", 8192, "Largest model archive, in MB, unpacked (size of its contents)."),
        # HTTPS (workbench serve).
        Setting(
            "tls_cert", "", "The server's TLS certificate (PEM); empty means one made on first start in <data_dir>/tls."
        ),
        Setting("tls_key", "", "The TLS certificate's private key (PEM), with tls_cert."),
        Setting(
            "server_names", "", "Extra host names (separated by ;) the server answers to and its certificate names."
        ),
        # The API and the CLI beside a running server.
        Setting(
            "server_url",
            "",
            "The running server the CLI talks to; empty means the one <data_dir>/server.json names, if running.",
            env_name="WORKBENCH_SERVER",
        ),
        Setting("upload_max_mb", 4096, "Largest upload, in MB, through the browser or the API."),
        # The review desk (pages/review.py, workbench.desk).
        Setting(
            "low_confidence",
            0.5,
            "Recognised words below this probability (0-1) are marked for review; Whisper gives them, FunASR none.",
            bounds=(0.0, 1.0),
        ),
        # Watch folders: recorders drop files, the server takes them (workbench.server.watch).
        Setting(
            "watch_folders",
            "",
            "Folders (separated by ;) the server takes recordings from, each optionally FOLDER=COURTROOM; empty: none.",
        ),
        Setting(
            "watch_pattern",
            r"^(?P<case>[（(]\d{4}[）)][^_]+?号)_(?P<courtroom>[^_]+)_(?P<date>\d{8})-(?P<time>\d{4})$",
            "How a watched file's name (without extension) gives case, courtroom, date and time (named groups).",
        ),
        Setting("watch_settle_s", 5, "A watched file is taken once its size and time have not changed for this long."),
        Setting("watch_as", "", "The account watched files are added as; empty means the system (an admin's rights)."),
    ]
}


def _saved(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "settings.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def get(name: str) -> Any:
    setting = REGISTRY[name]
    raw = os.environ.get(setting.env)
    if raw is not None and raw != "":
        return setting.parse(raw)
    if name != "data_dir":
        saved = _saved(data_dir())
        if name in saved:
            return saved[name]
    return setting.default


def save(values: dict[str, Any]) -> None:
    """Stores overrides (from the system page) in `<data_dir>/settings.json`."""
    for name, value in values.items():
        if name not in REGISTRY or name == "data_dir":
            raise KeyError(f"not a saved setting: {name}")
        setting = REGISTRY[name]
        if setting.choices and value not in setting.choices:
            raise ValueError(f"{name}: expected one of {', '.join(setting.choices)}, got {value!r}")
    path = data_dir() / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {**_saved(data_dir()), **values}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


def _absolute(value: str | Path) -> Path:
    return Path(value).expanduser().resolve()


def default_data_dir() -> Path:
    """The checkout's `data/` (the set-up installs the package from its checkout); an installed wheel
    has no checkout, and uses the user's data folder instead."""
    if (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / "data"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "hearing-workbench"


def data_dir() -> Path:
    return _absolute(get("data_dir") or default_data_dir())


def models_dir() -> Path:
    return _absolute(get("models_dir") or data_dir() / "models")


def db_path() -> Path:
    return _absolute(get("db") or data_dir() / "workbench.duckdb")


def markdown_table() -> str:
    """The settings table for the README (a test checks it is up to date)."""
    rows = ["| setting | environment | default | what it does |", "| --- | --- | --- | --- |"]
    for s in REGISTRY.values():
        default = json.dumps(s.default) if not isinstance(s.default, str) else (s.default or "(empty)")
        choices = f" One of: {', '.join(s.choices)}." if s.choices else ""
        rows.append(f"| `{s.name}` | `{s.env}` | {default} | {s.help}{choices} |")
    return "\n".join(rows)


def update_readme(readme: Path) -> bool:
    """Rewrites the settings table between the README's markers; True if it changed."""
    from workbench.files import rewrite_between

    return rewrite_between(readme, "<!-- settings:start -->", "<!-- settings:end -->", markdown_table())


if __name__ == "__main__":
    update_readme(CHECKOUT / "README.md")
