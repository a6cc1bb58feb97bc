"""A Hugging Face SiglipModel directory with only a SentencePiece spiece.model (SigLIP v1 hub layout:
spiece.model + tokenizer_config.json naming SiglipTokenizer), and what transformers' slow
SiglipTokenizer / SiglipProcessor make of many texts, for clip4j's HF SigLIP reader.

  /usr/bin/python3 tools/reference/hf_siglip_spiece.py OUT     (writes OUT/hf-siglip-spiece/...)

Runs transformers 4.57.6 unpacked as hf_siglip_reference.py does (its prepare() and shim(); read its
docstring), plus protobuf 6.33.6 unpacked from the machine's wheel folder into $HF_SIGLIP_REF_CACHE/pb
(SiglipTokenizer reads the model proto to switch add_dummy_prefix off; run in its pure-Python
implementation, which accepts Debian sentencepiece's old generated sentencepiece_model_pb2). The SentencePiece model is
spiece_tokenizer.py's "nfkc" model (nmt_nfkc, T5's ids: pad 0, eos 1, unk 2), trained by its train().

Writes OUT/hf-siglip-spiece/: spiece.model (the same bytes as the SentencePiece tests' nfkc fixture,
java/src/test/resources/dev/clip4j/tokenize/spiece/nfkc/spiece.model, which is checked and printed; the
test resource java/src/test/resources/dev/clip4j/model/hf-siglip/hf-siglip-spiece leaves it out and the
test copies it in), tokenizer_config.json (as google/siglip-base-patch16-224's:
SiglipTokenizer, pad_token "</s>", do_lower_case true, model_max_length 64, added_tokens_decoder with
lstrip/rstrip), config.json + model.safetensors + preprocessor_config.json of a tiny seeded
SiglipModel (text vocabulary = the model's pieces, max_position_embeddings 64), and texts.json:
for every text in TEXTS, "ids" = SiglipProcessor(text=..., padding="max_length", max_length=64,
truncation=True)["input_ids"], "ids_cased" = the same with the tokenizer loaded with
do_lower_case=False, "ids_8" = max_length 8, "ids_pad" = loaded with pad_token="<pad>" (id 0, so
rows show where '</s>' ends and padding starts, and '<pad>' is a special token); texts.npy = get_text_features of "ids", L2-normalised;
ident_texts.json: the same texts' "ids" through spiece_tokenizer.py's "ident" model (identity
normalisation, remove_extra_whitespaces off, eos id 2, unk id 0) with the same config minus
added_tokens_decoder (written to OUT/hf-siglip-spiece/ident/, its spiece.model the bytes of the
SentencePiece tests' ident fixture).
"""
import glob
import json
import os
import sys
import types
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_siglip_reference as ref  # noqa: E402

# spiece_tokenizer imports open_clip's get_clean_fn at module level; only train() is used here.
oc = types.ModuleType("open_clip")
oct_ = types.ModuleType("open_clip.tokenizer")
oct_.get_clean_fn = None
sys.modules.setdefault("open_clip", oc)
sys.modules.setdefault("open_clip.tokenizer", oct_)
import spiece_tokenizer as spt  # noqa: E402

L = 64
IDENT_FIXTURE = os.path.join(HERE, "..", "..", "java", "src", "test", "resources", "dev", "clip4j", "tokenize", "spiece",
                             "ident", "spiece.model")
NFKC_FIXTURE = os.path.join(HERE, "..", "..", "java", "src", "test", "resources", "dev", "clip4j", "tokenize", "spiece",
                            "nfkc", "spiece.model")
TEXTS = spt.TEXTS + [
    "</s>", "<unk>", "<UNK> and </S>", "hello</s>world", "a </s> b", "  </s>  x  ", "x</s>", "</s></s>",
    "a photo of <unk> cat", "<pad> is not special here", "\u2581", "\u2581\u2581 x", "x \u2581", "__init__ file.py",
    "\u03a9\u03bc\u03ad\u03b3\u03b1 \u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3", "\u0130stanbul \u00df \u1e9e",
    "\u201cquoted\u201d \u2014 dash\u2026 \u00bfqu\u00e9? \u00a1s\u00ed!", "\x1c\x1d\x1e\x1f sep \x85 nel \u2028 ls",
    "zero\u200bwidth\ufeffbom", "\uff01\uff1f\uff0e full-width punct\uff0c", "MiXeD CaSe 123 !!! ???",
    "cat " * 70, "dog " * 62 + "</s>", "a " * 62 + "b </s>", "emoji \U0001f431 </s> \U0001f436",
    "\u00c5ngstr\u00f6m \u212b \u2126 \u212a",
]


def protobuf():
    pb = os.path.join(ref.CACHE, "pb")
    if not os.path.isdir(os.path.join(pb, "google")):
        found = sorted(f for d in ref.WHEEL_DIRS for f in glob.glob(os.path.join(d, "protobuf-6.33.6-*.whl")))
        if not found:
            sys.exit("missing wheel protobuf-6.33.6 in " + str(ref.WHEEL_DIRS))
        zipfile.ZipFile(found[-1]).extractall(pb)
    sys.path.insert(0, pb)
    # Debian sentencepiece's sentencepiece_model_pb2 is old generated code: protobuf's pure-Python
    # implementation still accepts it.
    os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"


def main(out_root):
    out_root = os.path.abspath(out_root)
    protobuf()
    ref.prepare()
    ref.shim()
    import tempfile
    import numpy as np
    import torch
    import sentencepiece as spm
    from safetensors.torch import save_file
    from transformers.models.siglip import configuration_siglip, modeling_siglip
    from transformers.models.siglip.image_processing_siglip import SiglipImageProcessor
    from transformers.models.siglip.tokenization_siglip import SiglipTokenizer
    from transformers.models.siglip.processing_siglip import SiglipProcessor
    import transformers

    print("transformers", transformers.__version__, "torch", torch.__version__)
    d = os.path.join(out_root, "hf-siglip-spiece")
    os.makedirs(d, exist_ok=True)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as work:
        model_file = spt.train(work, "nfkc", spt.MODELS["nfkc"])
        with open(model_file, "rb") as f, open(os.path.join(d, "spiece.model"), "wb") as g:
            g.write(f.read())
        os.chdir(cwd)
    # The test resource leaves spiece.model out: it is the bytes of the SentencePiece tests' nfkc
    # fixture, which the test copies in (checked here).
    with open(os.path.join(d, "spiece.model"), "rb") as f, open(NFKC_FIXTURE, "rb") as g:
        print("spiece.model is the nfkc fixture's bytes:", f.read() == g.read())
    sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "spiece.model"))
    assert (sp.piece_to_id("<pad>"), sp.piece_to_id("</s>"), sp.piece_to_id("<unk>")) == (0, 1, 2)
    special = dict(lstrip=True, normalized=False, rstrip=True, single_word=False, special=True)
    tc = {"added_tokens_decoder": {"1": dict(content="</s>", **special), "2": dict(content="<unk>", **special)},
          "additional_special_tokens": [], "clean_up_tokenization_spaces": True, "do_lower_case": True,
          "eos_token": "</s>", "model_input_names": ["input_ids"], "model_max_length": L, "pad_token": "</s>",
          "processor_class": "SiglipProcessor", "sp_model_kwargs": {}, "tokenizer_class": "SiglipTokenizer",
          "unk_token": "<unk>"}
    json.dump(tc, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)

    kw = dict(text_config=dict(vocab_size=sp.get_piece_size(), hidden_size=32, intermediate_size=40,
                               num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=L,
                               pad_token_id=1, eos_token_id=1),
              vision_config=dict(hidden_size=32, intermediate_size=52, num_hidden_layers=2, num_attention_heads=4,
                                 image_size=32, patch_size=8))
    torch.manual_seed(2468)
    cfg = configuration_siglip.SiglipConfig(**kw)
    cfg._attn_implementation = "eager"
    model = modeling_siglip.SiglipModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * (0.2 if p.dim() > 1 else 0.1))
        for mod in model.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.copy_(1 + 0.1 * torch.randn_like(mod.weight))
    cfg.architectures = ["SiglipModel"]
    cfg.to_json_file(os.path.join(d, "config.json"), use_diff=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    S = cfg.vision_config.image_size
    proc = SiglipImageProcessor(size={"height": S, "width": S})
    proc.to_json_file(os.path.join(d, "preprocessor_config.json"))

    tok = SiglipTokenizer.from_pretrained(d)
    assert type(tok) is SiglipTokenizer and tok.do_lower_case and tok.pad_token_id == 1, (type(tok), tok.pad_token_id)
    processor = SiglipProcessor(image_processor=proc, tokenizer=tok)
    ids = processor(text=TEXTS, padding="max_length", max_length=L, truncation=True)["input_ids"]
    cased_tok = SiglipTokenizer.from_pretrained(d, do_lower_case=False)
    assert not cased_tok.do_lower_case
    cased = cased_tok(TEXTS, padding="max_length", max_length=L, truncation=True)["input_ids"]
    pad_tok = SiglipTokenizer.from_pretrained(d, pad_token="<pad>")
    assert pad_tok.pad_token_id == 0 and pad_tok.eos_token_id == 1
    padded = pad_tok(TEXTS, padding="max_length", max_length=L, truncation=True)["input_ids"]
    short = tok(TEXTS, padding="max_length", max_length=8, truncation=True)["input_ids"]
    assert all(len(r) == L for r in ids + cased) and all(len(r) == 8 for r in short)
    with torch.no_grad():
        feat = model.get_text_features(input_ids=torch.tensor(ids))
    feat = (feat / feat.norm(dim=-1, keepdim=True)).numpy().astype(np.float32)
    np.save(os.path.join(d, "texts.npy"), feat)
    json.dump([{"text": t, "ids": ids[i], "ids_cased": cased[i], "ids_8": short[i],
                "ids_pad": padded[i]} for i, t in enumerate(TEXTS)],
              open(os.path.join(d, "texts.json"), "w"), ensure_ascii=True, separators=(",", ":"))
    # The same texts through spiece_tokenizer.py's "ident" model (identity normalisation,
    # remove_extra_whitespaces off, sentencepiece's default ids: unk 0, bos 1, eos 2; pad '</s>'):
    # trailing '▁' pieces survive there, so SiglipTokenizer's dropping of a leading '▁' before a
    # special token shows. Tokenizer only (ident_texts.json); its spiece.model is the ident fixture's.
    di = os.path.join(d, "ident")
    os.makedirs(di, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        model_file = spt.train(work, "ident", spt.MODELS["ident"])
        with open(model_file, "rb") as f, open(os.path.join(di, "spiece.model"), "wb") as g:
            g.write(f.read())
        os.chdir(cwd)
    with open(os.path.join(di, "spiece.model"), "rb") as f, open(IDENT_FIXTURE, "rb") as g:
        print("ident spiece.model is the ident fixture's bytes:", f.read() == g.read())
    tci = {k: v for k, v in tc.items() if k != "added_tokens_decoder"}
    json.dump(tci, open(os.path.join(di, "tokenizer_config.json"), "w"), indent=2)
    itok = SiglipTokenizer.from_pretrained(di)
    assert itok.eos_token_id == 2 and itok.unk_token_id == 0 and itok.pad_token_id == 2
    iids = itok(TEXTS, padding="max_length", max_length=L, truncation=True)["input_ids"]
    json.dump([{"text": t, "ids": iids[i]} for i, t in enumerate(TEXTS)], open(os.path.join(d, "ident_texts.json"), "w"),
              ensure_ascii=True, separators=(",", ":"))
    print("ident: rows", len(iids), "with the '▁' piece", sum(1 for r in iids if itok.convert_tokens_to_ids("\u2581") in r))
    diff_case = sum(1 for a, b in zip(ids, cased) if a != b)
    unk = sum(1 for r in ids for i in r if i == 2)
    print("hf-siglip-spiece pieces", sp.get_piece_size(), "texts", len(TEXTS), "rows differing when cased", diff_case,
          "unk ids", unk, "rows without a pad", sum(1 for r in ids if r[-1] != 1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
