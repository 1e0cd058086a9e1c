"""opforge's contrib op library: one op per module, written with the SDK itself.

Importing this package declares every contrib op and its aten lowerings, so ``opforge.export``
exports the torch functions they serve. The list below is the registry (as onnx's ``_op_list.py``).
"""

from . import airy_ai as airy_ai
from . import bessel_j0 as bessel_j0
from . import bessel_j1 as bessel_j1
from . import bessel_y0 as bessel_y0
from . import bessel_y1 as bessel_y1
from . import cdist as cdist
from . import chebyshev_polynomial_t as chebyshev_polynomial_t
from . import chebyshev_polynomial_u as chebyshev_polynomial_u
from . import chebyshev_polynomial_v as chebyshev_polynomial_v
from . import chebyshev_polynomial_w as chebyshev_polynomial_w
from . import cholesky as cholesky
from . import copysign as copysign
from . import cov as cov
from . import cross_entropy_loss as cross_entropy_loss
from . import cummax as cummax
from . import cummin as cummin
from . import cumprod as cumprod
from . import digamma as digamma
from . import eigvalsh as eigvalsh
from . import erfcx as erfcx
from . import erfinv as erfinv
from . import fmax as fmax
from . import fmin as fmin
from . import gaussian_nll_loss as gaussian_nll_loss
from . import hermite_polynomial_h as hermite_polynomial_h
from . import hermite_polynomial_he as hermite_polynomial_he
from . import hypot as hypot
from . import i0 as i0
from . import i1 as i1
from . import i1e as i1e
from . import igamma as igamma
from . import igammac as igammac
from . import isin as isin
from . import kthvalue as kthvalue
from . import laguerre_polynomial_l as laguerre_polynomial_l
from . import legendre_polynomial_p as legendre_polynomial_p
from . import lgamma as lgamma
from . import linalg_inv as linalg_inv
from . import linalg_pinv as linalg_pinv
from . import linalg_qr as linalg_qr
from . import linalg_solve as linalg_solve
from . import log_ndtr as log_ndtr
from . import lowerings as lowerings
from . import median as median
from . import modified_bessel_k0 as modified_bessel_k0
from . import modified_bessel_k1 as modified_bessel_k1
from . import nanmedian as nanmedian
from . import nextafter as nextafter
from . import polygamma as polygamma
from . import scaled_modified_bessel_k0 as scaled_modified_bessel_k0
from . import scaled_modified_bessel_k1 as scaled_modified_bessel_k1
from . import scatter_reduce as scatter_reduce
from . import searchsorted as searchsorted
from . import shifted_chebyshev_polynomial_t as shifted_chebyshev_polynomial_t
from . import shifted_chebyshev_polynomial_u as shifted_chebyshev_polynomial_u
from . import shifted_chebyshev_polynomial_v as shifted_chebyshev_polynomial_v
from . import shifted_chebyshev_polynomial_w as shifted_chebyshev_polynomial_w
from . import spherical_bessel_j0 as spherical_bessel_j0
from . import svdvals as svdvals
from . import zeta as zeta

__all__ = ["airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "cdist", "chebyshev_polynomial_t",
           "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w", "cholesky", "copysign", "cov",
           "cross_entropy_loss", "cummax", "cummin", "cumprod", "digamma", "eigvalsh", "erfcx", "erfinv", "fmax", "fmin",
           "gaussian_nll_loss", "hermite_polynomial_h", "hermite_polynomial_he", "hypot", "i0", "i1", "i1e", "isin", "kthvalue",
           "laguerre_polynomial_l", "legendre_polynomial_p", "lgamma", "linalg_inv", "linalg_pinv", "linalg_qr", "linalg_solve",
           "log_ndtr", "lowerings", "median", "modified_bessel_k0", "modified_bessel_k1", "nanmedian", "nextafter",
           "polygamma", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "scatter_reduce", "searchsorted",
           "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
           "shifted_chebyshev_polynomial_w", "spherical_bessel_j0", "svdvals", "zeta"]
