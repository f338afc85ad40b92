"""Packaging for the IIF framework. Pinned versions live in requirements*.txt."""
from pathlib import Path

from setuptools import find_packages, setup


def _reqs(name: str) -> list[str]:
    lines = Path(__file__).with_name(name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "-r"))]


setup(
    name="iif",
    version="0.1.0",
    description="Inverse Image Frequency (IIF) for long-tailed image recognition and LVIS detection",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["iif", "iif.*", "mmdet_ext", "mmdet_ext.*"]),
    install_requires=_reqs("requirements.txt"),
    extras_require={"dev": _reqs("requirements-dev.txt")},
    license="Apache-2.0",
)
