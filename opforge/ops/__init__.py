"""opforge's contrib op library: one op per module, written with the SDK itself.

Importing this package declares every contrib op and its aten lowerings, so ``opforge.export``
exports the torch functions they serve. The list below is the registry (as onnx's ``_op_list.py``).
"""

from . import cdist as cdist
from . import cholesky as cholesky
from . import copysign as copysign
from . import cross_entropy_loss as cross_entropy_loss
from . import cummax as cummax
from . import cummin as cummin
from . import cumprod as cumprod
from . import digamma as digamma
from . import erfcx as erfcx
from . import erfinv as erfinv
from . import fmax as fmax
from . import fmin as fmin
from . import hypot as hypot
from . import i0 as i0
from . import isin as isin
from . import kthvalue as kthvalue
from . import lgamma as lgamma
from . import linalg_inv as linalg_inv
from . import linalg_qr as linalg_qr
from . import linalg_solve as linalg_solve
from . import log_ndtr as log_ndtr
from . import lowerings as lowerings
from . import median as median
from . import nanmedian as nanmedian
from . import nextafter as nextafter
from . import polygamma as polygamma
from . import scatter_reduce as scatter_reduce
from . import searchsorted as searchsorted

__all__ = ["cdist", "cholesky", "copysign", "cross_entropy_loss", "cummax", "cummin", "cumprod", "digamma", "erfcx", "erfinv",
           "fmax", "fmin", "hypot", "i0", "isin", "kthvalue", "lgamma", "linalg_inv", "linalg_qr", "linalg_solve",
           "log_ndtr", "lowerings", "median", "nanmedian", "nextafter", "polygamma", "scatter_reduce", "searchsorted"]
