# open_clip ResidualAttentionBlock: pre-LN, nn.MultiheadAttention (packed in_proj, out_proj),
# optional LayerScale, MLP c_fc -> activation -> c_proj. Batch-first [N, L, D] (open_clip runs
# sequence-first; the arithmetic per sample is the same). Placeholders filled by Java:
# {{HEADS}}, {{LS_1}} / {{LS_2}} (LayerScale line or nothing). The activation is the method
# mlp_activation, and linear (x @ w^T + b on [N, L, D]) comes from linear_*.ts; both are
# defined from separate sources when the block is built.
def forward(self, x: Tensor, causal: bool) -> Tensor:
    h = self.attention(self.ln_1.forward(x), causal)
{{LS_1}}
    x = x + h
    h = self.linear(self.ln_2.forward(x), self.mlp.c_fc.weight, self.mlp.c_fc.bias)
    h = self.mlp_activation(h)
    h = self.linear(h, self.mlp.c_proj.weight, self.mlp.c_proj.bias)
{{LS_2}}
    return x + h

def attention(self, x: Tensor, causal: bool) -> Tensor:
    n = x.size(0)
    l = x.size(1)
    d = x.size(2)
    qkv = self.linear(x, self.attn.in_proj_weight, self.attn.in_proj_bias)
    qkv = qkv.reshape([n, l, 3, {{HEADS}}, d // {{HEADS}}]).permute([2, 0, 3, 1, 4])
    o = torch.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], None, 0.0, causal)
    o = o.transpose(1, 2).reshape([n, l, d])
    return self.linear(o, self.attn.out_proj.weight, self.attn.out_proj.bias)
