"""Lambda layer assets built on this machine, without Docker.

Third-party wheels are installed with the local ``pip`` for the Lambda platform
(``--platform``/``--python-version``/``--only-binary``), which works on any host
because nothing is compiled. CDK requires a Docker image in ``BundlingOptions``;
it is never pulled because local bundling always succeeds or raises.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infrastructure import constants

if TYPE_CHECKING:
    from collections.abc import Sequence

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
