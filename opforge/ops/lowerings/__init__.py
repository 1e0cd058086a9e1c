"""aten lowerings in plain ONNX that replace stock torch.onnx translations which are wrong, fail on edge
cases, or are missing (for an alias of an op opforge already lowers, or for an op plain ONNX expresses
exactly). One aten family per module; importing this package registers them all (see
:func:`opforge.ops._aten.overrides`). Also here: stand-ins for torch functions whose C++ fixes a dynamic
dim at trace time (kron, take_along_dim, gradient, multi_dot, matrix_norm; see
:mod:`opforge.exporters.stand_ins`)."""

from . import adaptive_pool as adaptive_pool
from . import as_strided_scatter as as_strided_scatter
from . import attention as attention
from . import avg_pool as avg_pool
from . import batch_norm as batch_norm
from . import diagonal_scatter as diagonal_scatter
from . import divide as divide
from . import fractional_max_pool as fractional_max_pool
from . import frexp as frexp
from . import gradient as gradient
from . import grid_sampler_3d as grid_sampler_3d
from . import histogram as histogram
from . import householder as householder
from . import im2col as im2col
from . import kron as kron
from . import ldl as ldl
from . import linear_cross_entropy as linear_cross_entropy
from . import log_sigmoid as log_sigmoid
from . import logical_reduce as logical_reduce
from . import lu as lu
from . import masked_select as masked_select
from . import matrix_exp as matrix_exp
from . import matrix_norm as matrix_norm
from . import mode as mode
from . import multi_dot as multi_dot
from . import nonzero_static as nonzero_static
from . import pad as pad
from . import pdist as pdist
from . import put as put
from . import resize as resize
from . import scatter as scatter
from . import segment_reduce as segment_reduce
from . import stft as stft
from . import take_along_dim as take_along_dim
from . import triangular as triangular
from . import unique_consecutive as unique_consecutive
from . import view_of as view_of
from . import zero_dim as zero_dim

__all__ = ["adaptive_pool", "as_strided_scatter", "attention", "avg_pool", "batch_norm", "diagonal_scatter",
           "divide", "fractional_max_pool", "frexp", "gradient", "grid_sampler_3d", "histogram", "householder", "im2col",
           "kron", "ldl", "linear_cross_entropy", "log_sigmoid", "logical_reduce", "lu", "masked_select", "matrix_exp", "matrix_norm",
           "mode", "multi_dot", "nonzero_static", "pad", "pdist", "put", "resize", "scatter", "segment_reduce", "stft",
           "take_along_dim", "triangular", "unique_consecutive", "view_of", "zero_dim"]
