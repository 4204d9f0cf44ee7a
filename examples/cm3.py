r"""CM3: calibrated alignment/uniformity and spherical Bézier fusion.

CM3 (Zhou, Wang and Shen, 2025) replaces BPR by *alignment* (pull a user
and her items together on the unit sphere) plus *uniformity* (spread users
and items out), where item uniformity is *calibrated*: items with similar
multimodal content are pushed apart less. Its shared channel fuses the
modalities on the sphere with a spherical Bézier curve (a SLERP for two
modalities) at a random point t ~ Beta(alpha, alpha) per item.

This example trains CM3 on the synthetic data (image features informative,
text mostly noise) and looks inside the fusion::

    python examples/cm3.py            # a few minutes on 2 cores
    python examples/cm3.py --fast     # a few epochs (tests)
"""
import torch
import torch.nn.functional as F

import mmgraph
from mmgraph.nn import SphericalBezierFusion
from mmgraph.report import format_table

from _common import example_dataset


def main() -> None:
    dataset, fast = example_dataset(__doc__)

    # 1. Train with CM3's native loss (alignment + calibrated uniformity).
    model = mmgraph.create_model("cm3", dataset, alpha=0.5)
    config = {"epochs": 3 if fast else 100, "patience": 10,
              "batch_size": 512 if fast else 2048}
    results = mmgraph.Trainer(model, dataset, config,
                              show_progress=False).fit()
    h = results["history"]
    print(f"\nbest epoch {results['best_epoch']}: test recall@20 "
          f"{results['test']['recall@20']:.4f}, ndcg@20 "
          f"{results['test']['ndcg@20']:.4f}; loss terms at the last epoch: "
          f"align {h[-1]['align']:.4f}, uniform {h[-1]['uniform']:.4f}")

    # 2. The fusion weight t ~ Beta(alpha, alpha): small alpha lets one
    #    modality dominate each item, alpha = 1 is uniform.
    rows = []
    for alpha in (0.1, 0.5, 0.9):
        t = SphericalBezierFusion(alpha=alpha).sample_t(20000)
        rows.append([alpha, float(t.mean()),
                     float(((t < 0.1) | (t > 0.9)).float().mean())])
    print()
    print(format_table(rows, ["alpha", "mean t", "share of items with t "
                              "< 0.1 or > 0.9"]))

    # 3. The fused vectors lie on the unit sphere, between the modalities.
    #    In eval mode t is the Beta mean 1/2: the midpoint of the arc.
    model.eval()
    with torch.no_grad():
        proj = model.fusion_proj(model.mlps.features())
        fused = model.fused_features()
        cos = {m: float(F.cosine_similarity(fused, proj[m]).mean())
               for m in model.modalities}
    print(f"\nfused channel: |s| in [{float(fused.norm(dim=1).min()):.4f}, "
          f"{float(fused.norm(dim=1).max()):.4f}]; mean cosine to each "
          f"projected modality: "
          + ", ".join(f"{m} {c:.3f}" for m, c in cos.items()))
    print("Bernstein weights of the control points at t = 1/2:",
          [round(float(w), 3) for w in model.fusion.modality_weights()])

    # 4. Per-user channel attention, softmax(theta_u), averaged over users.
    with torch.no_grad():
        att = torch.softmax(model.user_fusion.theta, dim=-1).mean(0)
    names = model.modalities + ["fused"]
    print("mean user attention per channel:",
          ", ".join(f"{n} {float(a):.3f}" for n, a in zip(names, att)))


if __name__ == "__main__":
    main()
