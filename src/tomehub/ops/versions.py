"""``.deployed``: what the last start ran with, checked at every start (and by ``tomehub deploy-check``).

The reference system cached answers under a declared version that nobody bumped when the model or
the prompt changed. TomeHub's cache keys carry the real versions (model names, prompt hash), so a
prompt edit needs no bump; what a key cannot see is a provider serving *different weights under the
same model name and declared version*. To catch that, each start embeds a fixed probe sentence and
keeps a fingerprint of the vector: same model name and ``embedding_version`` but another fingerprint
means the vectors in the database no longer match new queries, and start-up stops with what to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tomehub.errors import TomehubError
from tomehub.llm.base import Embedder
from tomehub.llm.prompts import Prompts

_log = logging.getLogger(__name__)

PROBE = "TomeHub deployment probe: the same sentence, embedded at every start."


class DeploymentMismatch(TomehubError):
    code = "deployment_mismatch"


@dataclass(frozen=True)
class Deployed:
    embedding_model: str
    embedding_version: str
    embedding_dim: int
    embedding_fingerprint: str | None
    chat_model: str | None
    prompt_hash: str
    deployed_at: str


def fingerprint(vector: np.ndarray) -> str:
    # Rounded, so float noise between runs of the same weights does not change it.
    rounded = np.round(np.asarray(vector, dtype=np.float64), 3)
    return hashlib.sha256(rounded.tobytes()).hexdigest()[:16]


async def current(embedder: Embedder, *, chat_model: str | None, prompts: Prompts) -> Deployed:
    """Returns what this start runs with (the fingerprint is None if the embedder cannot answer now)."""
    try:
        probe = fingerprint(await embedder.embed_query(PROBE))
    except Exception as exc:  # a provider down at start-up must not stop the start
        _log.warning(
            "could not fingerprint the embedding model (%s: %s); skipping that check", exc.__class__.__name__, exc
        )
        probe = None
    return Deployed(
        embedding_model=embedder.model,
        embedding_version=embedder.version,
        embedding_dim=embedder.dim,
        embedding_fingerprint=probe,
        chat_model=chat_model,
        prompt_hash=prompts.hash,
        deployed_at=datetime.now(UTC).isoformat(),
    )


def compare(previous: Deployed | None, now: Deployed) -> list[str]:
    """Returns the notes about what changed; raises DeploymentMismatch for an undeclared model change."""
    if previous is None:
        return ["first start: nothing to compare"]
    notes = []
    same_declared = (previous.embedding_model, previous.embedding_version) == (
        now.embedding_model,
        now.embedding_version,
    )
    changed = (
        previous.embedding_dim != now.embedding_dim
        or (previous.embedding_fingerprint and now.embedding_fingerprint
            and previous.embedding_fingerprint != now.embedding_fingerprint)
    )  # fmt: skip
    if same_declared and changed:
        raise DeploymentMismatch(
            f"The embedding model {now.embedding_model!r} now answers differently than when version "
            f"{now.embedding_version!r} was deployed ({previous.deployed_at}), but its declared version is "
            "unchanged: stored vectors would be compared with incompatible queries. Declare the change "
            "(TOMEHUB_LLM__EMBEDDING_VERSION=<new>), restart, and run `tomehub reembed`; or restore the "
            "previous model."
        )
    if not same_declared:
        notes.append(
            f"embedding model changed: {previous.embedding_model}@{previous.embedding_version} -> "
            f"{now.embedding_model}@{now.embedding_version}; old vectors are re-embedded in the background"
        )
    if previous.prompt_hash != now.prompt_hash:
        notes.append(f"prompts changed ({previous.prompt_hash} -> {now.prompt_hash}); cached answers start over")
    if previous.chat_model != now.chat_model:
        notes.append(f"chat model changed: {previous.chat_model} -> {now.chat_model}")
    return notes or ["unchanged"]


def read(path: Path) -> Deployed | None:
    if not path.exists():
        return None
    return Deployed(**json.loads(path.read_text()))


def write(path: Path, deployed: Deployed) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(deployed), indent=2) + "\n")
    tmp.replace(path)


async def validate(
    path: Path, embedder: Embedder, *, chat_model: str | None, prompts: Prompts, record: bool
) -> list[str]:
    """Checks this start against ``path`` and, if it passes and ``record``, records it."""
    now = await current(embedder, chat_model=chat_model, prompts=prompts)
    notes = compare(read(path), now)
    if record:
        write(path, now)
    return notes
