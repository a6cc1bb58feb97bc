# open_clip 2.20 modified_resnet.Bottleneck in eval mode: 1x1 conv, 3x3 conv, the anti-aliasing
# avgpool when strided, 1x1 conv (each followed by BatchNorm with its running statistics, as
# F.batch_norm(training=False)), plus the identity or the downsample (avgpool, 1x1 conv, BatchNorm).
# Placeholders: {{EPS}} (BatchNorm eps), {{POOL}} (the avgpool line or nothing), {{IDENTITY}}.
def bn(self, x: Tensor, w: Tensor, b: Tensor, m: Tensor, v: Tensor) -> Tensor:
    return torch.batch_norm(x, w, b, m, v, False, 0.1, {{EPS}}, True)

def forward(self, x: Tensor) -> Tensor:
    out = torch.relu(self.bn(torch.conv2d(x, self.conv1.weight), self.bn1.weight, self.bn1.bias, self.bn1.running_mean, self.bn1.running_var))
    out = torch.relu(self.bn(torch.conv2d(out, self.conv2.weight, None, [1, 1], [1, 1]), self.bn2.weight, self.bn2.bias, self.bn2.running_mean, self.bn2.running_var))
{{POOL}}
    out = self.bn(torch.conv2d(out, self.conv3.weight), self.bn3.weight, self.bn3.bias, self.bn3.running_mean, self.bn3.running_var)
{{IDENTITY}}
    return torch.relu(out + identity)
