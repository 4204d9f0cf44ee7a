import math

import pytest
import torch

from mmgraph.nn import (
    DCT,
    ModalityEncoders,
    ModalityProjection,
    dct,
    dct_matrix,
)


def _naive_dct(x):
    # Sum formula of the orthonormal DCT-II, one coefficient at a time.
    n = x.size(-1)
    out = torch.zeros_like(x)
    for k in range(n):
        s = math.sqrt(1.0 / n) if k == 0 else math.sqrt(2.0 / n)
        for j in range(n):
            out[..., k] += s * x[..., j] * math.cos(math.pi * (2 * j + 1) * k /
                                                    (2 * n))
    return out


def test_modality_projection_linear():
    torch.manual_seed(0)
    proj = ModalityProjection(12, 4, weight_init='xavier_normal')
    assert str(proj) == 'ModalityProjection(12 -> 4)'
    assert len(proj.lins) == 1 and proj.lins[0].bias is not None
    x = torch.randn(5, 12)
    lin = proj.lins[0]
    assert torch.allclose(proj(x), x @ lin.weight.t() + lin.bias)


def test_modality_projection_cm3_mlp():
    torch.manual_seed(0)
    proj = ModalityProjection(40, 8, hidden_channels=16, out_bias=False)
    assert str(proj) == ('ModalityProjection(40 -> 16 -> 8, act=leaky_relu, '
                         'out_bias=False)')
    l1, l2 = proj.lins
    assert l1.bias is not None and l2.bias is None
    assert l1.weight.shape == (16, 40) and l2.weight.shape == (8, 16)
    x = torch.randn(7, 40)
    ref = torch.nn.functional.leaky_relu(x @ l1.weight.t() + l1.bias,
                                         0.01) @ l2.weight.t()
    assert torch.allclose(proj(x), ref, atol=1e-6)
    # reset_parameters re-draws the weights
    w = l1.weight.detach().clone()
    proj.reset_parameters()
    assert not torch.equal(w, proj.lins[0].weight)


def test_modality_projection_dropout_and_errors():
    proj = ModalityProjection(6, 3, hidden_channels=[8, 8], dropout=0.5,
                              act='relu')
    assert str(proj) == 'ModalityProjection(6 -> 8 -> 8 -> 3, act=relu, ' \
        'dropout=0.5)'
    x = torch.randn(4, 6)
    proj.eval()
    assert torch.equal(proj(x), proj(x))
    with pytest.raises(ValueError, match='ModalityProjection'):
        proj(torch.randn(4, 5))
    with pytest.raises(ValueError, match='ModalityProjection'):
        ModalityProjection(6, 3, dropout=1.0)
    with pytest.raises(ValueError, match='ModalityProjection'):
        ModalityProjection(6, 3, weight_init='kaiming')


@pytest.mark.parametrize('train_features', [False, True])
def test_modality_encoders(train_features):
    torch.manual_seed(0)
    feats = {'image': torch.randn(10, 32), 'text': torch.randn(10, 12),
             'audio': torch.randn(10, 5)}
    enc = ModalityEncoders({m: f.size(1) for m, f in feats.items()}, 8,
                           hidden_channels={'image': 16, 'text': None,
                                            'audio': [4]},
                           features=feats, train_features=train_features)
    assert str(enc) == (f'ModalityEncoders(image=32, text=12, audio=5 -> 8, '
                        f'train_features={train_features})')
    assert enc.modalities == ['image', 'text', 'audio']
    out = enc()
    assert {m: o.shape for m, o in out.items()} == {
        m: (10, 8) for m in feats}
    assert torch.allclose(out['text'], enc.encoders['text'](feats['text']))
    sub = enc(index=torch.tensor([3, 1]))
    assert torch.allclose(sub['image'], out['image'][[3, 1]])

    names = dict(enc.named_parameters())
    assert ('feat_image' in names) == train_features
    if not train_features:  # fixed features stay out of checkpoints
        assert 'feat_image' not in enc.state_dict()
    out['image'].sum().backward()
    grad = enc.feat_image.grad
    assert (grad is not None) == train_features


def test_modality_encoders_errors():
    with pytest.raises(ValueError, match='ModalityEncoders'):
        ModalityEncoders({}, 4)
    with pytest.raises(ValueError, match='item counts'):
        ModalityEncoders({'a': 3, 'b': 2}, 4, features={
            'a': torch.randn(5, 3), 'b': torch.randn(6, 2)})
    with pytest.raises(ValueError, match="'a' features"):
        ModalityEncoders({'a': 3}, 4, features={'a': torch.randn(5, 4)})
    enc = ModalityEncoders({'a': 3}, 4)
    with pytest.raises(ValueError, match='no features stored'):
        enc()
    with pytest.raises(ValueError, match='missing'):
        enc({'b': torch.randn(2, 3)})


@pytest.mark.parametrize('n', [1, 2, 7, 16, 33])
def test_dct_matrix_orthonormal_and_naive(n):
    C = dct_matrix(n, torch.float64)
    assert torch.allclose(C @ C.t(), torch.eye(n, dtype=torch.float64),
                          atol=1e-12)
    x = torch.randn(3, n, dtype=torch.float64)
    ref = _naive_dct(x)
    assert torch.allclose(x @ C.t(), ref, atol=1e-10)
    assert torch.allclose(dct(x), ref, atol=1e-10)
    assert torch.allclose(dct(x, norm=None)[..., 0], x.sum(-1), atol=1e-10)


def test_dct_against_scipy():
    scipy_fft = pytest.importorskip('scipy.fft')
    x = torch.randn(4, 384, dtype=torch.float64)
    ref = torch.from_numpy(scipy_fft.dct(x.numpy(), type=2, norm='ortho',
                                         axis=-1))
    assert torch.allclose(dct(x), ref, atol=1e-10)
    assert torch.allclose(DCT('matrix')(x), ref, atol=1e-10)


@pytest.mark.parametrize('method', ['fft', 'matrix'])
def test_dct_module_lirdrec_concat(method):
    torch.manual_seed(0)
    f_v, f_t = torch.randn(6, 20), torch.randn(6, 9)
    mod = DCT(method)
    assert str(mod) == f"DCT(norm='ortho', method='{method}')"
    f_s = mod([f_v, f_t])  # image first, concatenated along features
    assert f_s.shape == (6, 29)
    assert torch.allclose(f_s[:, :20], _naive_dct(f_v), atol=1e-5)
    assert torch.allclose(f_s[:, 20:], _naive_dct(f_t), atol=1e-5)
    # orthonormal: row norms are preserved per modality
    assert torch.allclose(f_s[:, :20].norm(dim=1), f_v.norm(dim=1),
                          atol=1e-5)
    with pytest.raises(ValueError, match='DCT'):
        mod([f_v, torch.randn(5, 9)])
    with pytest.raises(ValueError, match='DCT'):
        DCT('wavelet')
    with pytest.raises(ValueError, match='chunk_elements'):
        DCT(chunk_elements=0)


@pytest.mark.parametrize('method', ['fft', 'matrix'])
def test_dct_in_row_chunks_equals_one_piece(method):
    # 3 rows of the 20-wide modality per chunk: chunks of uneven sizes,
    # written into one output; a float64 modality promotes the output.
    torch.manual_seed(0)
    f_v, f_t = torch.randn(7, 20), torch.randn(7, 9, dtype=torch.float64)
    whole = DCT(method, chunk_elements=10 ** 6)([f_v, f_t])
    chunked = DCT(method, chunk_elements=60)([f_v, f_t])
    assert chunked.dtype == torch.float64
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(chunked[:, :20], _naive_dct(f_v).double(),
                               atol=1e-5, rtol=1e-5)
    # a batch axis in front, and autograd (one piece) agree too
    x = torch.randn(2, 7, 20, requires_grad=True)
    torch.testing.assert_close(DCT(method, chunk_elements=40)(x.detach()),
                               DCT(method)(x).detach())


def test_encoders_index_gathers_the_same_rows_on_either_branch():
    torch.manual_seed(0)
    feats = {"image": torch.randn(5, 8), "text": torch.randn(5, 3)}
    enc = ModalityEncoders({"image": 8, "text": 3}, 4, hidden_channels=6,
                           features=feats, train_features=True)
    short = torch.tensor([4, 1, 1])              # fewer rows than items
    long = torch.tensor([0, 3, 3, 2, 4, 1, 0])   # more: project all, gather
    for index in (short, long):
        out = enc(index=index)
        full = enc()
        for m in feats:
            assert torch.allclose(out[m], full[m][index], atol=1e-6)
    # The gradients reaching the trainable features agree with a
    # gather-then-project reference, repeats included.
    sum(o.sum() for o in enc(index=long).values()).backward()
    fast = {m: getattr(enc, f"feat_{m}").grad.clone() for m in feats}
    enc.zero_grad()
    ref = {m: enc.encoders[m](getattr(enc, f"feat_{m}").index_select(0, long))
           for m in feats}
    sum(o.sum() for o in ref.values()).backward()
    for m in feats:
        assert torch.allclose(fast[m], getattr(enc, f"feat_{m}").grad,
                              atol=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_row_sparse_lookup_projects_each_item_once(dropout):
    # sparse_features: repeated rows are projected once and gathered; the
    # gradient holds each row once (sorted, so it needs no coalescing) and
    # equals the dense gradient of a gather-then-project reference. With
    # dropout inside the projection (training) each repeat keeps its own
    # mask, so the rows are projected as gathered.
    torch.manual_seed(0)
    feats = {"image": torch.randn(9, 8), "text": torch.randn(9, 3)}
    enc = ModalityEncoders({"image": 8, "text": 3}, 4, hidden_channels=6,
                           features=feats, train_features=True,
                           dropout=dropout).eval()
    enc.sparse_grad = True
    index = torch.tensor([7, 2, 2, 5, 7, 7, 0])
    out = enc(index=index)
    sum(o.pow(2).sum() for o in out.values()).backward()
    for m in feats:
        table = getattr(enc, f"feat_{m}")
        grad = table.grad
        assert grad.is_sparse
        assert grad._indices()[0].tolist() == [0, 2, 5, 7]
        dense = grad.to_dense()
        table.grad = None
        ref = enc.encoders[m](table.index_select(0, index))
        torch.testing.assert_close(out[m], ref)
        ref.pow(2).sum().backward()
        torch.testing.assert_close(dense, table.grad)
    enc.train()
    enc.zero_grad(set_to_none=True)
    sum(o.sum() for o in enc(index=index).values()).backward()
    rows = enc.feat_image.grad._indices()[0].tolist()
    assert rows == (index.tolist() if dropout else [0, 2, 5, 7])


@pytest.mark.parametrize('train_features', [False, True])
def test_encoders_keep_the_given_features_without_copy_or_write(
        train_features):
    # At Elec scale a copy of the image table is 1 GB: the given matrix is
    # the fixed table (or the trainable table's pristine copy), and a
    # replacement re-binds instead of writing into it.
    feats = {'image': torch.randn(6, 4), 'text': torch.randn(6, 3)}
    before = {m: x.clone() for m, x in feats.items()}
    enc = ModalityEncoders({'image': 4, 'text': 3}, 2, features=feats,
                           train_features=train_features)
    kept = 'raw' if train_features else 'feat'
    for m in feats:
        assert getattr(enc, f'{kept}_{m}').data_ptr() == feats[m].data_ptr()
    if train_features:
        assert enc.feat_image.data_ptr() != feats['image'].data_ptr()
        with torch.no_grad():
            enc.feat_image[0] += 1.0  # a trained row
            enc.feat_image[1] += 1.0
    new = {m: x.clone() for m, x in feats.items()}
    new['image'][1] = 0.0  # item 1's features removed
    enc.replace_features(new)
    for m in feats:  # the original matrices are untouched
        assert torch.equal(feats[m], before[m])
    assert torch.equal(enc.feat_image[1], torch.zeros(4))
    if train_features:  # the trained row of an unchanged item is kept
        assert torch.equal(enc.feat_image[0], before['image'][0] + 1.0)
        enc.reset_parameters()  # restores the new pristine features
        assert torch.equal(enc.feat_image, new['image'])
    with pytest.raises(ValueError, match=r"expected \[6, 3\]"):
        enc.replace_features({'image': new['image'],
                              'text': torch.zeros(5, 3)})
