"""A tiny SigLIP-style (T5 / SentencePiece unigram) tokenizer fixture and open_clip's HFTokenizer
reference for it, without transformers/tokenizers (not packaged in Debian) or any hub access.

  PYTHONPATH=/tmp/sg/src:/tmp/sg/timm:/tmp/sg/stubs /usr/bin/python3 tools/reference/siglip_tokenizer.py DIR...

For each DIR written by siglip_reference.py (tiny): trains a SentencePiece unigram model
(python3-sentencepiece; identity normalisation, pad 0 / eos 1 / unk 2 as T5's), writes it as a
Hugging Face tokenizer.json the way transformers' T5 converter lays it out (Unigram model, Metaspace
pre-tokenizer, TemplateProcessing "$A </s>"), plus tokenizer_config.json (pad_token, eos_token).
Reference ids follow open_clip's HFTokenizer: the text cleaned by open_clip's own clean function
(tokenizer_kwargs.clean, imported from open_clip), SentencePiece's pieces, '</s>' appended,
truncated to context_length (EOS kept), padded with the pad id (padding='max_length').
Writes tokens.json ([{text, cleaned, ids}]) and texts.npy: open_clip encode_text(normalize=True)
of those ids with the fixture's weights.
"""
import json
import os
import sys
import tempfile

import numpy as np
import sentencepiece as spm
import torch

sys.path.insert(0, os.path.dirname(__file__))
import siglip_reference  # registers the tiny timm trunks
import open_clip
from open_clip.tokenizer import get_clean_fn

CORPUS = [
    "a photo of a cat", "a photo of a dog", "a picture of the sea at night", "two dogs playing in the snow",
    "an old red car parked near a house", "a bowl of fruit on a table", "the quick brown fox jumps over the lazy dog",
    "a diagram of a rocket engine", "people walking in a busy street", "a cup of coffee and a book",
    "mountains under a clear blue sky", "a small bird sitting on a branch", "1 2 3 4 5 6 7 8 9 0",
]

TEXTS = [
    "a photo of a cat",
    "A PHOTO of a Dog!",
    "  two_dogs   playing,\tin the snow...  ",
    "the quick brown fox jumps over the lazy dog and keeps running far away",
    "",
    "an old &amp; red car (parked) near a house?",
    "caf\u00e9 at night",
    "a photo of a {}.",
    "mountains\u00a0under a clear blue sky \u2014 1 2 3",
]


def train(workdir, vocab_size):
    corpus = os.path.join(workdir, "corpus.txt")
    with open(corpus, "w") as f:
        for _ in range(20):
            f.write("\n".join(CORPUS) + "\n")
    prefix = os.path.join(workdir, "spm")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, normalization_rule_name="identity", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        add_dummy_prefix=True, remove_extra_whitespaces=False, split_by_whitespace=True, hard_vocab_limit=True,
        num_threads=1, seed_sentencepiece_size=1000, shuffle_input_sentence=False)
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def tokenizer_json(sp):
    vocab = []
    for i in range(sp.get_piece_size()):
        vocab.append([sp.id_to_piece(i), 0.0 if sp.is_control(i) or sp.is_unknown(i) else sp.get_score(i)])
    special = lambda i, c: {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                            "normalized": False, "special": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
                          "prepend_scheme": "always"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True, "prepend_scheme": "always"},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": False},
    }


def reference_ids(sp, text, clean, ctx):
    cleaned = get_clean_fn(clean)(text)
    ids = sp.encode(cleaned, out_type=int)  # pieces; spm adds no EOS (eos is appended as the post-processor does)
    ids = ids[: ctx - 1] + [1]
    return cleaned, ids + [0] * (ctx - len(ids))


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as work:
        sp = train(work, 64)
        tj = tokenizer_json(sp)
        for d in sys.argv[1:]:
            hub = json.load(open(os.path.join(d, "open_clip_config.json")))
            cfg = hub["model_cfg"]
            ctx = cfg["text_cfg"]["context_length"]
            clean = cfg["text_cfg"].get("tokenizer_kwargs", {}).get("clean", "whitespace")
            with open(os.path.join(d, "tokenizer.json"), "w") as f:
                json.dump(tj, f, ensure_ascii=False)
            with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
                json.dump({"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                           "model_max_length": ctx, "tokenizer_class": "T5Tokenizer"}, f, indent=2)
            cases = []
            rows = []
            for t in TEXTS:
                cleaned, ids = reference_ids(sp, t, clean, ctx)
                cases.append({"text": t, "cleaned": cleaned, "ids": ids})
                rows.append(ids)
            with open(os.path.join(d, "tokens.json"), "w") as f:
                json.dump(cases, f, ensure_ascii=False, indent=1)
            kw = {k: v for k, v in cfg.items() if k != "custom_text"}
            model = open_clip.model.CustomTextCLIP(**kw)
            model.load_state_dict(torch.load(os.path.join(d, "open_clip_pytorch_model.bin")))
            model.eval()
            with torch.no_grad():
                emb = model.encode_text(torch.tensor(rows, dtype=torch.long), normalize=True)
            np.save(os.path.join(d, "texts.npy"), emb.numpy().astype(np.float32))
            print(d, "ctx", ctx, [c["ids"] for c in cases[:3]])


if __name__ == "__main__":
    main()
