# open_clip LayerNorm (eps 1e-5) over the last dimension. Computed in float32 and cast back, as
# open_clip's LayerNormFp32; for float32 inputs both casts are no-ops.
def forward(self, x: Tensor) -> Tensor:
    y = torch.layer_norm(x.float(), [self.weight.size(0)], self.weight.float(), self.bias.float(), 1e-05)
    return y.to(x.dtype)
