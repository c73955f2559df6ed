"""Tiny random BERT models the sentence-transformers tests build themselves (no download): a bi-encoder saved in
sentence-transformers format and a one-label cross-encoder, with a word-level vocabulary from the given texts."""

from __future__ import annotations

import re
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _tokenizer(texts: list[str], folder: Path):
    from transformers import BertTokenizerFast

    words = sorted({w for t in texts for w in re.findall(r"\w+", t.lower())})[:5000]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(SPECIAL + words) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)


def _config(vocab_size: int, seed: int, **kw):
    import torch
    from transformers import BertConfig

    torch.manual_seed(seed)
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=512, **kw)


def bi_encoder(texts: list[str], folder: Path, seed: int = 0) -> Path:
    """A sentence-transformers model (BERT + mean pooling), 32 dimensions."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertModel

    raw = folder.with_name(folder.name + "-bert")
    tok = _tokenizer(texts, raw)
    BertModel(_config(tok.vocab_size, seed)).save_pretrained(raw)
    tok.save_pretrained(raw)
    transformer = Transformer(str(raw))
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")])
    model.save(str(folder))
    return folder


def cross_encoder(texts: list[str], folder: Path, seed: int = 1) -> Path:
    """A sentence-transformers CrossEncoder (BERT with one output)."""
    from transformers import BertForSequenceClassification

    tok = _tokenizer(texts, folder)
    BertForSequenceClassification(_config(tok.vocab_size, seed, num_labels=1)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
