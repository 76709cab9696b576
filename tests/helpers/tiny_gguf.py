"""A tiny llama-architecture GGUF model, written with the ``gguf`` package for tests.

It has one layer, a 64-wide residual stream and a 300-token SentencePiece vocabulary
(the three specials, the 256 byte tokens every text falls back to, and a few words).
Its weights make it say " la" forever, never end-of-text: every answer runs until the
token cap or the context is full, the long-answer case a real model produces by
babbling. The file is about 300 kB and is written in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
from gguf import GGUFWriter, TokenType

EMBED: Final = 64
FFN: Final = 128
HEADS: Final = 4
WORDS: Final = ["▁la", "▁the", "▁a", "▁is", "▁to", "▁and"]
BABBLE: Final = "▁la"


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of the model's SentencePiece vocabulary."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + WORDS
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    types += [TokenType.BYTE] * 256 + [TokenType.NORMAL] * len(WORDS)
    scores = [0.0] * 259 + [-float(i) for i in range(len(WORDS))]
    return tokens, scores, [int(t) for t in types]


def write_tiny_model(path: Path, *, train_context: int = 4096) -> Path:
    """Write the model to ``path`` and return it."""
    tokens, scores, types = vocabulary()
    vocab = len(tokens)
    writer = GGUFWriter(str(path), "llama")
    writer.add_name("talkterm-tiny-babbler")
    writer.add_context_length(train_context)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(1)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all tensors F32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    for name, tensor in _tensors(vocab, tokens.index(BABBLE)).items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _tensors(vocab: int, babble: int) -> dict[str, np.ndarray]:
    """Weights: every position carries the same vector, which only the babble token matches.

    Attention and feed-forward weights are zero, so the residual stream stays the token
    embedding (all ones); the output matrix scores " la" at 64 and everything else at 0.
    """
    zeros = np.zeros
    output = zeros((vocab, EMBED), np.float32)
    output[babble] = 1.0
    return {
        "token_embd.weight": np.ones((vocab, EMBED), np.float32),
        "output_norm.weight": np.ones(EMBED, np.float32),
        "output.weight": output,
        "blk.0.attn_norm.weight": np.ones(EMBED, np.float32),
        "blk.0.attn_q.weight": zeros((EMBED, EMBED), np.float32),
        "blk.0.attn_k.weight": zeros((EMBED, EMBED), np.float32),
        "blk.0.attn_v.weight": zeros((EMBED, EMBED), np.float32),
        "blk.0.attn_output.weight": zeros((EMBED, EMBED), np.float32),
        "blk.0.ffn_norm.weight": np.ones(EMBED, np.float32),
        "blk.0.ffn_gate.weight": zeros((FFN, EMBED), np.float32),
        "blk.0.ffn_up.weight": zeros((FFN, EMBED), np.float32),
        "blk.0.ffn_down.weight": zeros((EMBED, FFN), np.float32),
    }
