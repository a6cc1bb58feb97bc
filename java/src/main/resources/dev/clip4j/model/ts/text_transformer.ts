# open_clip 2.20 CLIP.encode_text up to the pooled token (pre-projection features [N, width]):
# token + positional embedding, causal transformer, ln_final, the features at the position of
# the largest token id in each row (the end-of-text token). Sequences shorter than the context
# use the leading positions, as TextTransformer does.
def forward(self, text: Tensor) -> Tensor:
    l = text.size(1)
    x = torch.embedding(self.token_embedding.weight, text)
    x = x + self.positional_embedding[:l].to(x.dtype)
    x = self.transformer.forward(x, True)
    x = self.ln_final.forward(x)
    rows = torch.arange(x.size(0), device=x.device)
    return x[rows, text.argmax(-1)]
