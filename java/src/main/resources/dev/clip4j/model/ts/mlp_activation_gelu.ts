# nn.GELU(): exact erf form (not the tanh approximation).
def mlp_activation(self, x: Tensor) -> Tensor:
    return torch.gelu(x)
