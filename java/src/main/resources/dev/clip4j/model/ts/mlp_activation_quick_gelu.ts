# open_clip / OpenAI QuickGELU: x * sigmoid(1.702 x).
def mlp_activation(self, x: Tensor) -> Tensor:
    return x * torch.sigmoid(1.702 * x)
