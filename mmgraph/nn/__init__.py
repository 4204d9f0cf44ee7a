r"""Reusable layers of mmgraph: propagation, modality encoders, fusion and
losses. Sparse helpers live in :mod:`mmgraph.nn.sparse`.
"""
from mmgraph.nn.sparse import spmm, symmetric_spmm, transpose_csr
from mmgraph.nn.propagation import ItemGraphConvolution, LightGCNPropagation
from mmgraph.nn.encoders import (
    DCT,
    ModalityEncoders,
    ModalityProjection,
    dct,
    dct_matrix,
)
from mmgraph.nn.history import ItemInputHistory
from mmgraph.nn.trimmed import TrimmedAdjacency
from mmgraph.nn.fusion import (
    AttentionFusion,
    ConcatFusion,
    MeanFusion,
    ProgressiveWeightCopyingFusion,
    SphericalBezierFusion,
    pwc_schedule,
    slerp,
)
from mmgraph.nn.losses import (
    alignment_loss,
    bootstrap_cosine_loss,
    bpo_loss,
    bpr_loss,
    calibrated_uniformity_loss,
    emb_loss,
    half_squared_norm_loss,
    info_nce_loss,
    mean_square_loss,
    nbpo_loss,
    reverse_bpr_loss,
    uniformity_loss,
)

__all__ = [
    # propagation
    'LightGCNPropagation',
    'ItemGraphConvolution',
    # modality encoders
    'ModalityProjection',
    'ModalityEncoders',
    'DCT',
    # sampled training
    'ItemInputHistory',
    'TrimmedAdjacency',
    # fusion
    'SphericalBezierFusion',
    'ProgressiveWeightCopyingFusion',
    'MeanFusion',
    'ConcatFusion',
    'AttentionFusion',
    # functions
    'transpose_csr',
    'symmetric_spmm',
    'spmm',
    'dct',
    'dct_matrix',
    'slerp',
    'pwc_schedule',
    'bpr_loss',
    'reverse_bpr_loss',
    'bpo_loss',
    'nbpo_loss',
    'emb_loss',
    'half_squared_norm_loss',
    'info_nce_loss',
    'mean_square_loss',
    'alignment_loss',
    'uniformity_loss',
    'calibrated_uniformity_loss',
    'bootstrap_cosine_loss',
]
