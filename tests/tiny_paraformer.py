"""A small, randomly initialised FunASR Paraformer built from FunASR's own classes, for plumbing tests.

Its words mean nothing; what the tests judge is the path through the real fsmn-vad, frontend,
encoder, CIF predictor and decoder, and what our engine does with the results.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

TOKENS = [
    "<blank>",
    "<s>",
    "</s>",
    *list(
        "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感见明问力理尔点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许稜先口由死安写性马光白或住难望教命花结乐色更拉东神记处让母父应直字场平报友关放至张认接告入笑内英军候民岁往何度山觉路带万男边风解叫任金快原吃妈变通师立象数四失满战远格士音轻目条呢"
    ),
    "<unk>",
]

CONFIG = {
    "model": "Paraformer",
    "model_conf": {"ctc_weight": 0.0, "lsm_weight": 0.1, "length_normalized_loss": True, "predictor_weight": 1.0},
    "encoder": "SANMEncoder",
    "encoder_conf": {
        "output_size": 64, "attention_heads": 4, "linear_units": 128, "num_blocks": 2, "dropout_rate": 0.1,
        "positional_dropout_rate": 0.1, "attention_dropout_rate": 0.1, "input_layer": "pe",
        "pos_enc_class": "SinusoidalPositionEncoder", "normalize_before": True, "kernel_size": 11, "sanm_shfit": 0,
        "selfattention_layer_type": "sanm",
    },
    "decoder": "ParaformerSANMDecoder",
    "decoder_conf": {
        "attention_heads": 4, "linear_units": 128, "num_blocks": 2, "dropout_rate": 0.1,
        "positional_dropout_rate": 0.1, "self_attention_dropout_rate": 0.1, "src_attention_dropout_rate": 0.1,
        "att_layer_num": 2, "kernel_size": 11, "sanm_shfit": 0,
    },
    "predictor": "CifPredictorV2",
    "predictor_conf": {"idim": 64, "threshold": 1.0, "l_order": 1, "r_order": 1, "tail_threshold": 0.45},
    "frontend": "WavFrontend",
    "frontend_conf": {
        "fs": 16000, "window": "hamming", "n_mels": 80, "frame_length": 25, "frame_shift": 10, "lfr_m": 7, "lfr_n": 6,
    },
    "specaug": None,
    "normalize": None,
    "tokenizer": "CharTokenizer",
    "tokenizer_conf": {"unk_symbol": "<unk>", "token_list": "tokens.json"},
    "input_size": 560,
}  # fmt: skip


def build(folder: Path, seed: int = 0) -> Path:
    """Writes config.yaml, tokens.json and model.pt for a tiny Paraformer into `folder`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    # Paths stay relative, as in a model folder from ModelScope: configuration.json's file_path_metas
    # tell FunASR to resolve them inside whichever folder the model is loaded from.
    config = CONFIG
    (folder / "tokens.json").write_text(json.dumps(TOKENS, ensure_ascii=False), encoding="utf-8")
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (folder / "configuration.json").write_text(
        json.dumps({"framework": "pytorch", "task": "auto-speech-recognition", "model": {"type": "funasr"},
                    "file_path_metas": {"init_param": "model.pt", "config": "config.yaml",
                                        "tokenizer_conf": {"token_list": "tokens.json"}}}),
        encoding="utf-8",
    )  # fmt: skip
    torch.save({}, folder / "model.pt")  # AutoModel refuses a folder without weights
    from funasr import AutoModel

    torch.manual_seed(seed)
    auto = AutoModel(model=str(folder), disable_update=True, disable_pbar=True, device="cpu", log_level="ERROR")
    torch.save(auto.model.state_dict(), folder / "model.pt")
    return folder
