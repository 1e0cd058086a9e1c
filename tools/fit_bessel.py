"""Derive the Chebyshev coefficients of the Bessel-function bodies (opforge/ops/_bessel_tables.py) by
least-squares fits against torch's float64 special functions, and print the module text.

Each function is split as Cephes splits it: a smooth part on a bounded interval (a series in x^2, with
the log or 1/x singular part of Y/K subtracted using J/I) and, beyond it, the smooth amplitude/phase
factors of the asymptotic form (Q times x). Every piece is fitted on Chebyshev nodes of a variable y in [-1, 1].

    python tools/fit_bessel.py > opforge/ops/_bessel_tables.py
"""

from __future__ import annotations

import math

import numpy as np
import torch

NODES = 600
sp = torch.special


def _f(fn, x):  # noqa: ANN001, ANN202
    return fn(torch.tensor(x, dtype=torch.float64)).numpy()


def _fit(name: str, y_to_x, target, degree: int) -> tuple[str, list[float], float]:  # noqa: ANN001
    y = np.cos(np.pi * (np.arange(NODES) + 0.5) / NODES)
    x = y_to_x(y)
    c = np.polynomial.chebyshev.chebfit(y, target(x), degree)
    yt = np.linspace(-1, 1, 20001)[1:-1]
    err = np.max(np.abs(np.polynomial.chebyshev.chebval(yt, c) - target(y_to_x(yt))))
    return name, [float(v) for v in c], float(err)


def tables() -> list[tuple[str, list[float], float]]:
    two_over_pi = 2 / math.pi
    small = lambda y: np.sqrt((y + 1) * 12.5)  # noqa: E731 - x in [0, 5] from y = x^2 / 12.5 - 1
    large = lambda y: 5.0 / np.sqrt((y + 1) / 2)  # noqa: E731 - x in [5, inf) from y = 2 (5 / x)^2 - 1
    k_small = lambda y: np.sqrt((y + 1) * 2)  # noqa: E731 - x in [0, 2] from y = x^2 / 2 - 1
    k_large = lambda y: 4.0 / (y + 1)  # noqa: E731 - x in [2, inf) from y = 4 / x - 1
    i_small = lambda y: (y + 1) * 4  # noqa: E731 - x in [0, 8] from y = x / 4 - 1
    i_large = lambda y: 16.0 / (y + 1)  # noqa: E731 - x in [8, inf) from y = 16 / x - 1

    def amp(j, y_, shift):  # noqa: ANN001, ANN202
        def p(x):  # noqa: ANN001, ANN202
            xi = x - shift
            return np.sqrt(np.pi * x / 2) * (_f(j, x) * np.cos(xi) + _f(y_, x) * np.sin(xi))

        def q(x):  # noqa: ANN001, ANN202 - times x: Q itself goes like 1/x, not smooth in 1/x^2
            xi = x - shift
            return x * np.sqrt(np.pi * x / 2) * (_f(y_, x) * np.cos(xi) - _f(j, x) * np.sin(xi))
        return p, q

    p0, q0 = amp(sp.bessel_j0, sp.bessel_y0, math.pi / 4)
    p1, q1 = amp(sp.bessel_j1, sp.bessel_y1, 3 * math.pi / 4)
    i0 = lambda x: _f(torch.i0, x)  # noqa: E731
    i1 = lambda x: _f(sp.i1, x)  # noqa: E731
    safe = lambda x: np.maximum(x, 1e-300)  # noqa: E731
    return [
        _fit("J0_SMALL", small, lambda x: _f(sp.bessel_j0, x), 24),
        _fit("J1_SMALL", small, lambda x: _f(sp.bessel_j1, safe(x)) / safe(x), 24),
        _fit("Y0_SMALL", small, lambda x: _f(sp.bessel_y0, safe(x)) - two_over_pi * np.log(safe(x)) * _f(sp.bessel_j0, x), 24),
        _fit("Y1_SMALL", small, lambda x: (_f(sp.bessel_y1, safe(x)) - two_over_pi * (np.log(safe(x)) * _f(sp.bessel_j1, x)
                                                                                      - 1 / safe(x))) / safe(x), 24),
        _fit("J0_P", large, p0, 24), _fit("J0_Q", large, q0, 24),
        _fit("J1_P", large, p1, 24), _fit("J1_Q", large, q1, 24),
        _fit("I0_SMALL", k_small, i0, 16),
        _fit("I1_SMALL", k_small, lambda x: i1(safe(x)) / safe(x), 16),
        _fit("K0_SMALL", k_small, lambda x: _f(sp.modified_bessel_k0, safe(x)) + np.log(safe(x) / 2) * i0(x), 16),
        _fit("K1_SMALL", k_small, lambda x: (_f(sp.modified_bessel_k1, safe(x)) - np.log(safe(x) / 2) * i1(x)) * x, 16),
        _fit("K0E_LARGE", k_large, lambda x: _f(sp.scaled_modified_bessel_k0, x) * np.sqrt(x), 30),
        _fit("K1E_LARGE", k_large, lambda x: _f(sp.scaled_modified_bessel_k1, x) * np.sqrt(x), 30),
        _fit("I1E_SMALL", i_small, lambda x: _f(sp.i1e, safe(x)) / safe(x), 30),
        _fit("I1E_LARGE", i_large, lambda x: _f(sp.i1e, x) * np.sqrt(x), 30),
    ]


def main() -> None:
    print('"""Chebyshev coefficients of the Bessel-function bodies (lowest degree first), derived by')
    print("tools/fit_bessel.py from torch's float64 special functions; the comment after each table is its")
    print('max abs fit error on its interval. Generated: do not edit."""')
    print()
    for name, coefficients, err in tables():
        print(f"{name} = {coefficients!r}  # {err:.1e}")


if __name__ == "__main__":
    main()
