"""Type stubs of the exphil package (see ``exphil/__init__.py`` for the documentation)."""

import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

from . import umi as umi

PathLike = Union[str, os.PathLike[str]]

__all__ = [
    "Dataset",
    "DatasetError",
    "Game",
    "Policy",
    "PolicyError",
    "ReplayError",
    "build_dataset",
    "read_replay",
    "scan",
    "umi",
    "write_untrained_policy",
]

class ReplayError(ValueError):
    """A replay that cannot be read; the message names the file and the problem."""

class DatasetError(ValueError):
    """A dataset that cannot be opened, built or loaded; the message names it."""

class PolicyError(ValueError):
    """A policy that cannot be loaded or stepped; the message names the file."""

class Game:
    """One decoded replay."""

    @property
    def path(self) -> str: ...
    @property
    def metadata(self) -> Dict[str, Any]: ...
    @property
    def ports(self) -> List[int]: ...
    @property
    def followers(self) -> List[int]: ...
    @property
    def warnings(self) -> List[str]: ...
    def __len__(self) -> int: ...
    def frames(self, port: int, follower: bool = False) -> pa.Table: ...
    def items(self) -> pa.Table: ...
    def umi_frames(self, port: int, opponent: Optional[int] = None) -> np.ndarray: ...
    def umi_frame_rows(self, port: int, opponent: Optional[int] = None) -> np.ndarray: ...

def read_replay(path: PathLike, rollback: str = "last") -> Game: ...
def scan(
    paths: Union[PathLike, Sequence[PathLike]],
    *,
    metadata_only: bool = False,
    threads: Optional[int] = None,
    include_rejected: bool = False,
    characters: Union[str, Sequence[str], None] = None,
    character: Union[str, Sequence[str], None] = None,
    stages: Union[str, Sequence[str], None] = None,
    stage: Union[str, Sequence[str], None] = None,
    min_frames: Optional[int] = None,
    human_only: bool = False,
    one_v_one: bool = False,
    min_quality: Optional[int] = None,
    keep_duplicates: bool = False,
) -> pa.Table: ...
def build_dataset(
    replays: Union[PathLike, Sequence[PathLike]],
    out: PathLike,
    *,
    embed: Optional[str] = None,
    validation_fraction: float = 0.1,
    split_seed: int = 0,
    frame_delay: int = 0,
    mirror: bool = False,
    player_port: Optional[int] = None,
    train_characters: Sequence[str] = (),
    precision: str = "f32",
    compression: str = "zstd",
    threads: Optional[int] = None,
    no_cache: bool = False,
    characters: Union[str, Sequence[str], None] = None,
    character: Union[str, Sequence[str], None] = None,
    stages: Union[str, Sequence[str], None] = None,
    stage: Union[str, Sequence[str], None] = None,
    min_frames: Optional[int] = None,
    human_only: bool = False,
    one_v_one: bool = False,
    min_quality: Optional[int] = None,
    keep_duplicates: bool = False,
) -> Dict[str, Any]: ...

class Dataset:
    """A built dataset served as minibatches of NumPy arrays."""

    def __init__(
        self,
        dir: PathLike,
        *,
        batch_size: int = 256,
        shuffle: bool = True,
        seed: int = 0,
        split: Optional[str] = "train",
        window: Optional[int] = None,
        stride: Optional[int] = None,
        unroll: Optional[int] = None,
        segment_frames: Optional[int] = None,
        originals_only: Optional[bool] = None,
        drop_last: bool = False,
        prefetch: int = 2,
    ) -> None: ...
    @property
    def info(self) -> Dict[str, Any]: ...
    @property
    def num_examples(self) -> int: ...
    def __len__(self) -> int: ...
    def epoch(self, epoch: int) -> Iterator[Dict[str, np.ndarray]]: ...
    def __iter__(self) -> Iterator[Dict[str, np.ndarray]]: ...

class Policy:
    """A trained policy playing one seat on UMI v1 frames."""

    def __init__(
        self,
        run: PathLike,
        *,
        deterministic: bool = False,
        temperature: float = 1.0,
        delay: Optional[int] = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None: ...
    @property
    def info(self) -> Dict[str, Any]: ...
    @property
    def delay(self) -> int: ...
    def step(self, frame: Union[np.ndarray, np.void, bytes, bytearray, memoryview]) -> Dict[str, Any]: ...
    def reset(self) -> None: ...

def write_untrained_policy(path: PathLike, hidden: int = 16, frame_delay: int = 0) -> None: ...
