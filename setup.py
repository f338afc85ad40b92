"""Packaging for the IIF framework. Pinned versions live in requirements*.txt."""
from pathlib import Path

from setuptools import find_packages, setup


setup(
    name="iif",
    version="0.1.0",
    description="Inverse Image Frequency (IIF) for long-tailed image recognition and LVIS detection",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["iif", "iif.*", "mmdet_ext", "mmdet_ext.*"]),
    # The core (`import iif`) needs only these; loose ranges so it drops into other projects.
    install_requires=["torch>=2.1", "numpy>=1.24", "scipy>=1.10"],
    extras_require={
        # the classification trainer (iif.data, iif.models, iif.engine); pinned in requirements.txt
        "cls": ["torchvision>=0.16", "timm>=0.9", "mmengine>=0.10", "tqdm>=4.60"],
        "dev": ["pytest>=7", "hypothesis>=6"],
    },
    license="Apache-2.0",
)
