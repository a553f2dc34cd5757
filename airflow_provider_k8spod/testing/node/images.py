"""Image references: parsing and normalisation as containerd does it, and the kubelet's pull policy.

Pure functions. No image is ever pulled; the kubelet only decides which outcome to report.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from airflow_provider_k8spod.testing._util import sha256_hex

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)


class InvalidImageName(ValueError):
    """The kubelet's InvalidImageName: the message is what ends up in the container's waiting state."""


@dataclass(frozen=True)
class ImageRef:
    domain: str
    path: str
    tag: str
    digest: str

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def normalized(self) -> str:
        """Fully qualified reference, as containerd reports it in ``status.containerStatuses[].image``."""
        if self.digest and not self.tag:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or 'latest'}"

    @property
    def image_id(self) -> str:
        """A stable fake digest reference for ``imageID``."""
        digest = self.digest or f"sha256:{sha256_hex(self.normalized)}"
        return f"{self.repository}@{digest}"


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    return domain, path


def parse_image(reference: str) -> ImageRef:
    """Parse and normalise ``reference``; raise :class:`InvalidImageName` like the kubelet would."""
    quoted = json.dumps(reference)
    prefix = f"Failed to apply default image tag {quoted}: couldn't parse image name {quoted}: "
    if not reference or reference != reference.strip():
        raise InvalidImageName(prefix + "invalid reference format")
    candidate = reference
    name_part = candidate.split("@", 1)[0]
    last = name_part.rsplit("/", 1)[-1]
    bare_name = name_part[: len(name_part) - len(last)] + last.split(":", 1)[0]
    _, path_guess = _split_domain(bare_name)
    if path_guess != path_guess.lower() and _REFERENCE_RE.match(candidate.lower()):
        raise InvalidImageName(
            prefix + f"invalid reference format: repository name ({path_guess}) must be lowercase"
        )
    match = _REFERENCE_RE.match(candidate)
    if not match:
        raise InvalidImageName(prefix + "invalid reference format")
    name = match.group("name")
    if len(name) > 255:
        raise InvalidImageName(
            prefix + "invalid reference format: repository name must not be more than 255 characters"
        )
    domain, path = _split_domain(name)
    return ImageRef(domain, path, match.group("tag") or "", match.group("digest") or "")


def default_pull_policy(reference: str) -> str:
    """The API server's defaulting: ``Always`` for ``:latest`` or untagged images, else ``IfNotPresent``."""
    try:
        ref = parse_image(reference)
    except InvalidImageName:
        return "IfNotPresent"
    if ref.digest:
        return "IfNotPresent"
    return "Always" if not ref.tag or ref.tag == "latest" else "IfNotPresent"


def image_key(reference: str) -> str:
    """Key used to match declared images: the normalised reference, or the raw text if unparsable."""
    try:
        return parse_image(reference).normalized
    except InvalidImageName:
        return reference


def not_found_message(reference: str) -> str:
    ref = parse_image(reference)
    full = ref.normalized
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": failed to resolve reference '
        f'"{full}": {full}: not found'
    )
