"""Every dependency's switch for telemetry, update checks and hub look-ups, off, before the dependency loads.

A court's recordings and party names must never leave its LAN, and nothing may phone home from it.
`workbench/__init__.py` imports this module before anything else, so every way in passes through it
before torch, onnxruntime, pyannote or FunASR is imported:

- the `workbench` command (every subcommand, `workbench serve` included: the server imports the package
  before Streamlit reads its configuration);
- the pages, also under a bare `streamlit run workbench/web/app.py` (the router imports the package);
- the job child: `python -m workbench.server.job_process` imports the `workbench` package before its module.

Children inherit the environment (the job child, LibreOffice). The values are set, not defaulted: the
guarantee must not depend on the environment the server happens to be started from.

Switches no environment variable reaches are set where the library is called:

- FunASR checks PyPI for a newer release in every `AutoModel(...)` unless given `disable_update=True`
  (workbench/speech/asr/funasr.py passes it to each one; tests/tiny_paraformer.py too);
- Streamlit's usage statistics: `browser.gatherUsageStats = false` in .streamlit/config.toml (and on
  `workbench serve`'s command line);
- Streamlit asks checkip.amazonaws.com for a public address when serving on 0.0.0.0: `workbench serve`
  replaces that lookup (workbench/cli/serve.py).

tests/test_egress.py proves the sum: the CLI with diarization, a FunASR and a Whisper job in the server's
job child, every page in a browser, and an export to .docx and PDF, all under strace, fail on any
connection or DNS query that is not local.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Switch:
    variable: str
    value: str
    why: str  # which library reads it, and what it would otherwise send


SWITCHES: tuple[Switch, ...] = (
    Switch(
        "ORT_DISABLE_TELEMETRY",
        "1",
        "onnxruntime 1.32 (Silero VAD in faster-whisper): its Linux build carries Microsoft's OneDS telemetry, "
        "DNS queries for mobile.events.data.microsoft.com on every session",
    ),
    Switch(
        "PYANNOTE_METRICS_ENABLED",
        "0",
        "pyannote.audio 4: OpenTelemetry usage spans to otel.pyannote.ai, on by default",
    ),
    Switch(
        "OTEL_SDK_DISABLED",
        "true",
        "the OpenTelemetry SDK pyannote exports through: no spans leave even if a library turns its metrics on",
    ),
    Switch(
        "HF_HUB_OFFLINE",
        "1",
        "huggingface_hub (pyannote, faster-whisper, transformers): a model given by name fails at once "
        "instead of being looked up on the hub",
    ),
    Switch("TRANSFORMERS_OFFLINE", "1", "transformers' own spelling of HF_HUB_OFFLINE, for releases that read it"),
    Switch("HF_HUB_DISABLE_TELEMETRY", "1", "huggingface_hub: no usage pings"),
    Switch("DO_NOT_TRACK", "1", "the cross-tool convention (donottrack.sh); huggingface_hub reads it too"),
    Switch(
        "MODELSCOPE_OFFLINE",
        "1",
        "ModelScope, for releases that read it (modelscope 1.40 and modelscope-hub 0.5 do not): FunASR reaches "
        "ModelScope only for a model given by name, and the workbench always passes a registered folder",
    ),
    Switch(
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS",
        "false",
        "Streamlit: no usage statistics from the browser, whichever config file is read "
        "(`workbench serve` imports the package before Streamlit reads its configuration)",
    ),
)


def apply() -> None:
    """Sets every switch in this process's environment (and so its children's)."""
    for switch in SWITCHES:
        os.environ[switch.variable] = switch.value


apply()
