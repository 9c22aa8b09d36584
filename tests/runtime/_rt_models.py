"""Small models shared by the runtime tests."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def all_hook_counts(model: nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


class Block(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.dropout1 = nn.Dropout(0.1)
        self.norm = nn.BatchNorm1d(width)

    def forward(self, x):
        return self.norm(self.dropout1(self.linear(x)))


class Encoder(nn.Module):
    def __init__(self, n: int = 4, width: int = 8) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Block(width) for _ in range(n)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Net(nn.Module):
    """``encoder.layers.{0..3}.dropout1`` (Dropout) and ``.norm`` (BatchNorm1d)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.encoder = Encoder(4, width)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.encoder(x))


class FunctionalDropout(nn.Module):
    """The classic bug: F.dropout without ``training`` (defaults to True)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x):
        return F.dropout(self.linear(x), 0.3)


class GatedFunctionalDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x):
        return F.dropout(self.linear(x), 0.3, training=self.training)


class SdpaAttention(nn.Module):
    """SDPA with an ungated dropout_p (the bug nanoGPT avoids)."""

    def __init__(self, gated: bool = False) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.p = 0.2
        self.gated = gated

    def forward(self, x):
        q, k, v = self.qkv(x).view(x.shape[0], x.shape[1], 3, 2, 4).permute(2, 0, 3, 1, 4)
        p = (self.p if self.training else 0.0) if self.gated else self.p
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)


class DropoutBuiltInForward(nn.Module):
    """DG302: a dropout module constructed inside forward is always in training mode."""

    def forward(self, x):
        return nn.Dropout(0.5)(x)


class DropPath(nn.Module):
    """Stand-in for timm's DropPath (recognised by class name)."""

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if not self.training or self.drop_prob == 0:
            return x
        keep = torch.rand(x.shape[0], 1, device=x.device) >= self.drop_prob
        return x * keep / (1 - self.drop_prob)


class StochasticDepth(DropPath):
    """Stand-in for torchvision.ops.StochasticDepth."""


class WithDropPath(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.drop_path = DropPath(0.2)
        self.depth = StochasticDepth(0.2)

    def forward(self, x):
        return self.depth(self.drop_path(self.linear(x)))


def mha_model(dropout: float = 0.1) -> nn.Module:
    return nn.Sequential(nn.MultiheadAttention(8, 2, dropout=dropout, batch_first=True))


class MhaWrapper(nn.Module):
    def __init__(self, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, dropout=dropout, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


def line_of(func, text: str) -> int:
    """Line number of the first source line of ``func`` containing ``text``."""
    import inspect

    lines, start = inspect.getsourcelines(func)
    for offset, line in enumerate(lines):
        if text in line:
            return start + offset
    raise AssertionError(f"{text!r} not in {func}")
