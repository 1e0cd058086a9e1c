"""aten lowerings in plain ONNX that replace stock torch.onnx translations which are wrong, fail on edge
cases, or are missing for an alias of an op opforge already lowers. One aten family per module; importing
this package registers them all (see :func:`opforge.ops._aten.overrides`)."""

from . import avg_pool as avg_pool
from . import batch_norm as batch_norm
from . import diagonal_scatter as diagonal_scatter
from . import divide as divide
from . import frexp as frexp
from . import householder as householder
from . import ldl as ldl
from . import lu as lu
from . import masked_select as masked_select
from . import matrix_exp as matrix_exp
from . import pad as pad
from . import triangular as triangular
from . import unique_consecutive as unique_consecutive
from . import zero_dim as zero_dim

__all__ = ["avg_pool", "batch_norm", "diagonal_scatter", "divide", "frexp", "householder", "ldl", "lu", "masked_select",
           "matrix_exp", "pad", "triangular", "unique_consecutive", "zero_dim"]
