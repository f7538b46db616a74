"""The fitters' optimiser: Adam written out on plain tensors (no ``torch.optim``)."""

from __future__ import annotations

import torch
from torch import Tensor


class Adam:
    """Adam (Kingma & Ba; torch.optim.Adam's defaults: betas 0.9/0.999, eps 1e-8, bias-corrected),
    one learning rate per parameter.

    Written out because constructing a ``torch.optim`` optimiser imports ``torch._dynamo`` on first
    use (about 3 s of CPU per worker process, longer than fitting a short clip)."""

    def __init__(self, params: list[Tensor], lrs: list[float], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lrs, self.betas, self.eps = params, lrs, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        for p, lr, m, v in zip(self.params, self.lrs, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1.0 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1.0 - b2)
            p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-lr / c1)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


__all__ = ["Adam"]
