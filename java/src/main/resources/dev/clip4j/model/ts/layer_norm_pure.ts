# open_clip LayerNorm (eps 1e-5) over the last dimension in the input's dtype with weights of that
# dtype (open_clip's pure_fp16/pure_bf16: plain LayerNorm, no float32 cast; LibTorch's kernel
# accumulates in float32 internally).
def forward(self, x: Tensor) -> Tensor:
    return torch.layer_norm(x, [self.weight.size(0)], self.weight, self.bias, 1e-05)
