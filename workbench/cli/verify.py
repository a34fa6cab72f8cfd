"""`workbench verify FILE`: is this .docx/.pdf the record this server issued, and does it still match?

The file's bytes go to `POST /records/verify` (the running server, else this process on the store, as
`with_api` decides), as the account `--as` names. The report is printed in words: matches or not, the
state it was exported in, when and by whom, and each difference (a line of the dialogue that differs, the
recording replaced, edits since, the state now).

Exit status: 0 when the file matches, 1 when it does not (or the code was never issued here), 2 when the
file cannot be read at all (missing, unreadable, or not a .docx/.pdf).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import echo_json, with_api

if TYPE_CHECKING:
    from workbench.api.client import Api

MAX_BYTES = 50 << 20  # what the server takes (`workbench.api.exports.VERIFY_MAX_BYTES`)
RECORD_MAGIC = (b"PK\x03\x04", b"%PDF-")  # a .docx is a zip; a PDF starts so


class Unreadable(click.ClickException):
    """The file could not be read as a record at all: exit status 2 (1 means read, and it does not match)."""

    exit_code = 2


def read_file(path: Path) -> bytes:
    """The file's bytes; Unreadable naming what is wrong (missing, a folder, too large, not a .docx/.pdf)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise Unreadable(f"{path}: 文件超过 {MAX_BYTES >> 20} MB，不是本系统导出的笔录 (too large to be a record)")
        data = path.read_bytes()
    except IsADirectoryError:
        raise Unreadable(f"{path}: 是文件夹，不是文件 (a folder, not a file)") from None
    except FileNotFoundError:
        raise Unreadable(f"{path}: 文件不存在 (no such file)") from None
    except OSError as e:
        raise Unreadable(f"{path}: 无法读取 ({e.strerror or e})") from None
    if not data.startswith(RECORD_MAGIC):
        raise Unreadable(f"{path}: 不是 .docx 或 .pdf 文件 (not a .docx or .pdf file; give an exported record)")
    return data


def post_file(api: Api, data: bytes, name: str) -> dict[str, Any]:
    """The report for `data`: over HTTP as raw bytes, or in-process with the bytes as the call's body."""
    if api.remote:
        remote: Any = api  # RemoteApi: a raw body, which `call` (JSON) does not send
        response = remote.request(
            "POST",
            "/records/verify",
            params={"name": name},
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status >= 400:
            raise remote.error_of(response)
        return json.loads(response.read().decode("utf-8"))  # type: ignore[no-any-return]
    return api.call("POST", "/records/verify", params={"name": name}, json=data)  # type: ignore[no-any-return]


def _state(value: str | None) -> str:
    from workbench.record.manifest import state_label

    return f"{state_label(value)} ({value})" if value else "?"


def report_lines(path: Path, report: dict[str, Any]) -> list[str]:
    """The report in words, as `workbench verify` prints it."""
    verdict = "与笔录一致 (matches the record)" if report["ok"] else "与笔录不一致 (does NOT match)"
    lines = [f"{path}: {verdict}"]
    if report.get("code"):
        lines.append(f"  验证码 (code): {report['code']}")
    if report.get("hearing_id") is not None:
        lines.append(f"  庭审 (hearing): {report['hearing_id']}")
        lines.append(
            f"  导出时 (exported): {_state(report.get('exported_state'))}, {report.get('exported_at') or '?'}, "
            f"by {report.get('exporter') or '?'}"
        )
        lines.append(f"  现在 (now): {_state(report.get('state_now'))}")
    for finding in report.get("findings") or []:
        lines.append(f"  - {finding}")
    return lines


@click.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@with_api
def verify_cmd(api: Api, file: Path, as_json: bool) -> None:
    """Check an exported court record (.docx or .pdf) against the store.

    Says whether the file is what this server issued and still matches the record, the state it was exported
    in, and what differs. Exit status 0: matches; 1: does not match; 2: the file cannot be read.
    """
    data = read_file(file)
    report = post_file(api, data, file.name)
    if as_json:
        echo_json(report)
    else:
        click.echo("\n".join(report_lines(file, report)))
    if not report["ok"]:
        click.get_current_context().exit(1)
