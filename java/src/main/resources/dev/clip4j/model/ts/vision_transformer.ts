# open_clip 2.20 VisionTransformer up to ln_post (pre-projection features [N, width]).
# Placeholders: {{PATCH}} (patch size), {{LN_PRE}} (the ln_pre line or nothing),
# {{POOL}} (class token, or mean over all tokens as 2.20's global_average_pool).
def forward(self, x: Tensor) -> Tensor:
    x = torch.conv2d(x, self.conv1.weight, None, [{{PATCH}}, {{PATCH}}])
    n = x.size(0)
    x = x.reshape([n, x.size(1), -1]).permute([0, 2, 1])
    cls = self.class_embedding.to(x.dtype) + torch.zeros([n, 1, x.size(2)], dtype=x.dtype, device=x.device)
    x = torch.cat([cls, x], 1)
    x = x + self.positional_embedding.to(x.dtype)
{{LN_PRE}}
    x = self.transformer.forward(x, False)
{{POOL}}
    return self.ln_post.forward(pooled)
