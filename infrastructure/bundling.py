"""Assets built on this machine, without Docker: the Lambda layers and the training source archive.

Third-party wheels are installed with the local ``pip`` for the Lambda platform
(``--platform``/``--python-version``/``--only-binary``), which works on any host
because nothing is compiled. The training source archive is plain Python written
into a tarball, so it never needs pip or a network. CDK requires a Docker image in
``BundlingOptions``; it is never pulled because local bundling always succeeds or raises.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets

from infrastructure import constants

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from constructs import Construct

# Only named because BundlingOptions requires an image; see the module docstring.
_UNUSED_DOCKER_IMAGE = f"public.ecr.aws/sam/build-python{constants.LAMBDA_PYTHON_VERSION}"
_PLACEHOLDER = """\
Placeholder written by an offline synth (-c {key}=true).
The third-party dependencies in {requirements} were NOT installed: do not deploy this asset.
"""


@jsii.implements(cdk.ILocalBundling)
class PipInstallBundling:
    """``pip install --target <out>/python`` for the Lambda platform, run by the synthesizing Python."""

    def __init__(
        self,
        *,
        requirements: Path,
        python_version: str,
        platforms: Sequence[str],
        pip: Sequence[str] = (sys.executable, "-m", "pip"),
    ) -> None:
        self._requirements = requirements
        self._python_version = python_version
        self._platforms = tuple(platforms)
        self._pip = tuple(pip)

    def command(self, output_dir: str) -> list[str]:
        platform_args = [arg for platform in self._platforms for arg in ("--platform", platform)]
        return [
            *self._pip,
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",  # .pyc files for the build host's Python would be dead weight in the layer
            "--implementation",
            "cp",
            "--python-version",
            self._python_version,
            *platform_args,
            "--only-binary=:all:",  # nothing may be compiled for the host's architecture
            "--target",
            str(Path(output_dir) / "python"),  # Lambda puts /opt/python on sys.path
            "-r",
            str(self._requirements),
        ]

    # jsii calls this with the bundling options; their shape differs across jsii versions and is unused.
    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        try:
            subprocess.run(self.command(output_dir), check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            # Returning False would make CDK fall back to Docker, which this project does not use.
            raise RuntimeError(
                f"pip could not install {self._requirements} for the Lambda platform ({error}). "
                f"Check network access to the package index, or synthesize a template-only app "
                f"with -c {constants.CONTEXT_OFFLINE_DEPENDENCIES}=true."
            ) from error
        return True


@jsii.implements(cdk.ILocalBundling)
class OfflinePlaceholderBundling:
    """Writes a note instead of dependencies, so an offline synth needs neither pip nor a network."""

    def __init__(self, *, requirements: Path) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        text = _PLACEHOLDER.format(
            key=constants.CONTEXT_OFFLINE_DEPENDENCIES, requirements=self._requirements.name
        )
        (target / "PICKS_OFFLINE_PLACEHOLDER.txt").write_text(text, encoding="utf-8")
        return True


def dependencies_layer_code(
    *,
    requirements: Path = constants.LAYER_REQUIREMENTS,
    python_version: str = constants.LAMBDA_PYTHON_VERSION,
    platforms: Sequence[str] = constants.LAMBDA_WHEEL_PLATFORMS,
    offline: bool = False,
) -> lambda_.AssetCode:
    """The third-party dependencies layer: ``requirements`` installed under ``python/``.

    The asset hash is derived from what determines the output (requirements, target platform and
    mode) rather than from the source folder, so an unchanged lockfile reuses the bundle in cdk.out
    and an offline placeholder can never be mistaken for a real bundle.
    """
    local: PipInstallBundling | OfflinePlaceholderBundling
    if offline:
        local = OfflinePlaceholderBundling(requirements=requirements)
    else:
        local = PipInstallBundling(
            requirements=requirements, python_version=python_version, platforms=platforms
        )
    fingerprint = hashlib.sha256()
    for part in (requirements.read_bytes(), python_version.encode(), *(p.encode() for p in platforms)):
        fingerprint.update(part)
        fingerprint.update(b"\0")
    fingerprint.update(b"offline" if offline else b"pip")
    return lambda_.Code.from_asset(
        str(requirements.parent),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=fingerprint.hexdigest(),
        bundling=cdk.BundlingOptions(image=cdk.DockerImage.from_registry(_UNUSED_DOCKER_IMAGE), local=local),
    )


def library_layer_code(layer_dir: Path = constants.LAYER_DIR) -> lambda_.AssetCode:
    """The first-party ``picks`` package as ``python/picks`` (no bundling: it is plain source)."""
    return lambda_.Code.from_asset(
        str(layer_dir),
        exclude=["requirements.txt", "**/__pycache__", "**/*.pyc", ".*"],
    )


# --- training source archive (SageMaker script mode) ----------------------------------------------

# SageMaker runs ``python train.py`` from the archive's root (sagemaker_program); the real entry point
# lives in the training package, so the script at the root is only this shim.
TRAINING_SHIM = """\
\"\"\"SageMaker script-mode entry point (sagemaker_program); generated by infrastructure/bundling.py.\"\"\"
from training.train import run_and_exit

if __name__ == "__main__":
    run_and_exit()
"""
# Makes ``training`` a regular package in the archive even while the source tree has no __init__.py:
# a namespace package would lose to any regular ``training`` package on the container's sys.path.
_TRAINING_INIT = '"""picks training entry points (packaged by infrastructure/bundling.py)."""\n'
# Bumped whenever the archive's layout changes without any source file changing.
_ARCHIVE_FORMAT = b"picks-sourcedir-1"
_SKIPPED_DIRS = frozenset({"__pycache__", "tests"})


def _package_files(root: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """``(archive name, source)`` of every file under ``root``, less caches, tests, .pyc and hidden files."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or path.suffix == ".pyc":
            continue
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        yield f"{prefix}/{relative.as_posix()}", path


def training_source_files(
    *,
    training_dir: Path = constants.TRAINING_DIR,
    library_dir: Path = constants.LIBRARY_DIR,
    requirements: Path = constants.TRAINING_REQUIREMENTS,
) -> dict[str, bytes]:
    """Archive member name -> content of the training source archive, sorted by name.

    Layout (SageMaker extracts it to /opt/ml/code, the working directory and first ``sys.path`` entry):
    ``train.py`` (the shim), ``requirements.txt`` (pip-installed by the container before it runs the
    script), ``training/...`` (the package) and ``picks/...`` (the first-party library it imports).
    """
    if not requirements.is_file():
        raise FileNotFoundError(f"the training jobs' requirements are missing: {requirements}")
    files: dict[str, bytes] = {
        constants.TRAINING_ENTRY_POINT: TRAINING_SHIM.encode(),
        "requirements.txt": requirements.read_bytes(),
    }
    for prefix, root in (("training", training_dir), (library_dir.name, library_dir)):
        files.update((name, path.read_bytes()) for name, path in _package_files(root, prefix))
    files.setdefault("training/__init__.py", _TRAINING_INIT.encode())
    return dict(sorted(files.items()))


def training_source_hash(files: Mapping[str, bytes]) -> str:
    """Changes with any member's name or content (and with the archive format), nothing else."""
    digest = hashlib.sha256(_ARCHIVE_FORMAT)
    for name, content in files.items():
        for part in (name.encode(), hashlib.sha256(content).digest()):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def write_source_archive(files: Mapping[str, bytes], target: Path) -> Path:
    """A reproducible ``.tar.gz`` of ``files``: fixed timestamps, owners and modes, so equal sources give
    equal bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            archive.addfile(info, io.BytesIO(content))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())
    return target


@jsii.implements(cdk.ILocalBundling)
class SourceArchiveBundling:
    """Writes the single ``sourcedir.tar.gz`` that ``BundlingOutput.ARCHIVED`` uploads as is."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = dict(files)

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        write_source_archive(self._files, Path(output_dir) / constants.TRAINING_SOURCE_ARCHIVE)
        return True


def training_source_asset(scope: Construct, construct_id: str) -> s3_assets.Asset:
    """The training source archive as an S3 asset, for ``sagemaker_submit_directory``.

    The hash is computed over the archive's members, so editing any file under training/ or the picks
    library (or the requirements) uploads a new archive, and an unchanged source reuses cdk.out's.
    """
    files = training_source_files()
    return s3_assets.Asset(
        scope,
        construct_id,
        path=str(constants.TRAINING_DIR),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=training_source_hash(files),
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry(_UNUSED_DOCKER_IMAGE),
            local=SourceArchiveBundling(files),
            output_type=cdk.BundlingOutput.ARCHIVED,  # the .tar.gz itself is the asset, not a zip of it
        ),
    )
