"""vidsynth: one import package whose sub-packages are the top-level folders of the tree."""

from setuptools import find_packages, setup

SUBPACKAGES = ["engine", "networks", "geometry", "streams", "training"]

packages = ["vidsynth"]
package_dir = {"vidsynth": "vidsynth"}
for sub in SUBPACKAGES:
    for pkg in [sub] + [f"{sub}.{p}" for p in find_packages(sub)]:
        packages.append(f"vidsynth.{pkg}")
        package_dir[f"vidsynth.{pkg}"] = pkg.replace(".", "/")

extras = {
    "video": ["av>=12", "opencv-contrib-python"],
    "extract": ["mediapipe==0.10.21", "protobuf<5", "scipy"],  # scipy: imaginaire's face-curve fits, exactly
    "demo": ["scikit-image"],  # the demo's footage: a photograph scikit-image ships
    "onnx": ["onnx==1.17.*", "onnxruntime"],
    "geometry": ["open3d-cpu"],
    "train": ["tensorboard"],
    "test": ["pytest", "scikit-image"],
}
extras["all"] = sorted({r for k, reqs in extras.items() if k != "test" for r in reqs})

setup(
    name="vidsynth",
    version="0.1.0",
    description="A video-first streaming synthesis engine: imaginaire's nine models as real-time frame pipelines",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    include_package_data=True,
    package_data={"vidsynth.engine": ["data/*", "data/models/*"], "vidsynth.engine.studio": ["static/*"], "vidsynth.training": ["configs/*.yaml"]},
    install_requires=["torch>=2.3", "numpy<2", "safetensors", "pyyaml", "tqdm"],
    extras_require=extras,
    entry_points={"console_scripts": ["vidsynth = vidsynth.cli:main"]},
)
