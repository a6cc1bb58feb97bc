# open_clip 2.20 ModifiedResNet in eval mode up to the attention pool's attention output (the
# query token's heads concatenated, [N, width * 32]); c_proj, the pool's output projection, runs in
# the embedding head (weight and bias), then the L2 normalisation.
# Placeholders: {{EPS}} (BatchNorm eps), {{BLOCKS}} (the Bottleneck calls), {{HEADS}}, {{SCALE}}
# (sqrt of the head width, as F.multi_head_attention_forward divides q by it).
def bn(self, x: Tensor, w: Tensor, b: Tensor, m: Tensor, v: Tensor) -> Tensor:
    return torch.batch_norm(x, w, b, m, v, False, 0.1, {{EPS}}, True)

def forward(self, x: Tensor) -> Tensor:
    x = torch.relu(self.bn(torch.conv2d(x, self.conv1.weight, None, [2, 2], [1, 1]), self.bn1.weight, self.bn1.bias, self.bn1.running_mean, self.bn1.running_var))
    x = torch.relu(self.bn(torch.conv2d(x, self.conv2.weight, None, [1, 1], [1, 1]), self.bn2.weight, self.bn2.bias, self.bn2.running_mean, self.bn2.running_var))
    x = torch.relu(self.bn(torch.conv2d(x, self.conv3.weight, None, [1, 1], [1, 1]), self.bn3.weight, self.bn3.bias, self.bn3.running_mean, self.bn3.running_var))
    x = torch.avg_pool2d(x, [2, 2])
{{BLOCKS}}
    n = x.size(0)
    c = x.size(1)
    x = x.reshape([n, c, -1]).permute([2, 0, 1])
    x = torch.cat([x.mean(0, True), x], 0)
    x = x + self.attnpool.positional_embedding.unsqueeze(1).to(x.dtype)
    q = torch.linear(x[:1], self.attnpool.q_proj.weight, self.attnpool.q_proj.bias)
    k = torch.linear(x, self.attnpool.k_proj.weight, self.attnpool.k_proj.bias)
    v = torch.linear(x, self.attnpool.v_proj.weight, self.attnpool.v_proj.bias)
    d = c // {{HEADS}}
    q = q.reshape([1, n * {{HEADS}}, d]).transpose(0, 1)
    k = k.reshape([k.size(0), n * {{HEADS}}, d]).transpose(0, 1)
    v = v.reshape([v.size(0), n * {{HEADS}}, d]).transpose(0, 1)
    q = q / {{SCALE}}
    a = torch.softmax(torch.bmm(q, k.transpose(1, 2)), -1)
    o = torch.bmm(a, v)
    return o.transpose(0, 1).reshape([n, c])
