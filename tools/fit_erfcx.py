"""Re-derive the coefficients of ``erfcx_nonneg`` in opforge/ops/_special_lib.py: a least-squares
Chebyshev fit of erfcx(a) (1 + 2a) in y = (a - K) / (a + K), K = 3.75, at 400 Chebyshev nodes, against
torch.special.erfcx in float64, printed as power-series coefficients (highest first) with the max
relative error on [0, 1e8].

    python tools/fit_erfcx.py
"""

from __future__ import annotations

import numpy as np
import torch

K, DEGREE, NODES = 3.75, 18, 400


def main() -> None:
    y = np.cos(np.pi * (np.arange(NODES) + 0.5) / NODES)
    y = y[y < 0.9999999]
    a = torch.tensor(K * (1 + y) / (1 - y), dtype=torch.float64)
    target = (torch.special.erfcx(a) * (1 + 2 * a)).numpy()
    powers = np.polynomial.chebyshev.cheb2poly(np.polynomial.chebyshev.chebfit(y, target, DEGREE))
    test = np.concatenate([np.linspace(0, 10, 20001), np.geomspace(10, 1e8, 2001)])
    approx = np.polynomial.polynomial.polyval((test - K) / (test + K), powers) / (1 + 2 * test)
    exact = torch.special.erfcx(torch.tensor(test)).numpy()
    print("coefficients, highest power first:", [float(c) for c in powers[::-1]])
    print("max relative error:", float(np.max(np.abs(approx / exact - 1))))


if __name__ == "__main__":
    main()
