"""exphil: Super Smash Bros. Melee Slippi replays as Arrow tables and NumPy arrays.

The decoding, scanning and dataset loading run in Rust (exphil's own crates, through the native
module ``exphil._native``); this package turns their columns into ``pyarrow`` tables.

- :func:`read_replay` decodes one ``.slp`` file into a :class:`Game` (metadata, per-port frame
  tables, Nana's frames, items, the decoder's warnings).
- :func:`scan` summarises a folder of replays into one table row per file, with the command
  line's filters (``exphil replays scan``).
- :func:`build_dataset` builds a training dataset (``exphil dataset build``) and
  :class:`Dataset` serves its minibatches as dicts of NumPy arrays.
- :class:`Policy` steps a trained policy on UMI v1 frames (:mod:`exphil.umi`), as
  ``exphil serve`` does, and answers controllers.

Errors are exceptions naming the file and the problem: :class:`ReplayError` for a replay that
cannot be read, :class:`DatasetError` for a dataset, :class:`PolicyError` for a policy (all
subclass ``ValueError``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

from . import _native, umi
from ._native import DatasetError, ReplayError

try:
    from ._native import PolicyError
except ImportError:  # a build without the `policy` feature

    class PolicyError(ValueError):  # type: ignore[no-redef]
        """A policy that cannot be loaded or stepped (this build has no policy support)."""


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

PathLike = Union[str, "os.PathLike[str]"]


def _table(columns: List[Any]) -> pa.Table:
    """An Arrow table from the native ``(name, values, null mask or None)`` columns."""
    names = [name for name, _, _ in columns]
    arrays = [pa.array(values, mask=mask) for _, values, mask in columns]
    return pa.Table.from_arrays(arrays, names=names)


class Game:
    """One decoded replay: what :func:`read_replay` returns.

    Attributes are computed from the decoded game on first use; the frame tables are built on
    each call of :meth:`frames` (keep the table if you use it twice).
    """

    __slots__ = ("_native", "_metadata")

    def __init__(self, native: _native.Game) -> None:
        """Wraps a native game (use :func:`read_replay` rather than this)."""
        self._native = native
        self._metadata: Optional[Dict[str, Any]] = None

    @property
    def path(self) -> str:
        """The file the game was read from."""
        return str(self._native.path)

    @property
    def metadata(self) -> Dict[str, Any]:
        """What the game is: a dict with

        ``path``, ``version`` (Slippi format), ``stage`` (id), ``stage_name``, ``ports`` (port
        numbers 1-4), ``characters`` and ``names`` (per port: character name; netplay name and
        code, else the name tag, else ``None``), ``frames`` (frame rows, the same count as
        ``exphil replays show``), ``seconds``, ``end_method``, ``winner`` (port, or ``None``),
        ``online``, ``played_on``, ``start_at``, ``complete``, ``damaged``, ``quality`` (0-100),
        ``rollback_resends``, and the decoder's full records: ``players`` (per-player summary),
        ``start`` (Game Start), ``end`` (Game End or ``None``), ``raw`` (the file's metadata
        block or ``None``), ``summary`` (``exphil replays show --json``'s ``summary``).
        """
        if self._metadata is None:
            show = json.loads(self._native.summary_json())
            s = show["summary"]
            players = s["players"]
            winner = [p["port"] for p in players if p.get("placement") == 0]
            self._metadata = {
                "path": self.path,
                "version": s["version"],
                "stage": s["stage"],
                "stage_name": s["stage_name"],
                "ports": [p["port"] for p in players],
                "characters": {p["port"]: p["character_name"] for p in players},
                "names": {p["port"]: _identity(p) for p in players},
                "frames": s["frames"],
                "seconds": s["seconds"],
                "end_method": s["end_method"],
                "winner": winner[0] if winner else None,
                "online": s["online"],
                "played_on": s["played_on"],
                "start_at": s["start_at"],
                "complete": self._native.complete,
                "damaged": s["damaged"],
                "quality": s["quality"]["score"],
                "rollback_resends": show["rollback_resends"],
                "players": players,
                "start": show["start"],
                "end": show["end"],
                "raw": show["metadata"],
                "summary": s,
            }
        return self._metadata

    @property
    def ports(self) -> List[int]:
        """Port numbers (1-4) of the players, in port order."""
        return list(self._native.ports)

    @property
    def followers(self) -> List[int]:
        """Ports whose character has a follower (Nana, for Ice Climbers) in some frame."""
        return list(self._native.followers)

    @property
    def warnings(self) -> List[str]:
        """The decoder's warnings as text: damage (truncated or corrupt data: decoding stopped
        there and kept every frame before it), skipped events, unreadable metadata, ..."""
        return list(self._native.warnings)

    def __len__(self) -> int:
        """Frame rows (distinct frame ids, from -123)."""
        return int(self._native.frame_count)

    def frames(self, port: int, follower: bool = False) -> pa.Table:
        """One port's frames as an Arrow table, one row per frame row of the game.

        Columns: ``frame`` (id, from -123; 0 is "GO"), the Pre-Frame Update as ``pre_*``
        (inputs: ``pre_joystick_x/y``, ``pre_cstick_x/y``, ``pre_trigger``, ``pre_buttons``,
        raw and physical inputs; state before the frame), the Post-Frame Update as ``post_*``
        (``post_x``, ``post_y``, ``post_action_state``, ``post_percent``, ``post_stocks``,
        ``post_shield``, ``post_facing``, state flags, velocities, hitlag, ...) and the derived
        ``hitstun_remaining``. Values are raw, as the game recorded them. A field the file's
        Slippi version does not record, or a frame where the character is absent, is null.

        ``follower=True`` gives the follower's (Nana's) frames instead; all null for a port
        without one (see :attr:`followers`). A port with no player raises ``ValueError``.
        """
        return _table(self._native.frame_columns(int(port), bool(follower)))

    def umi_frames(self, port: int, opponent: Optional[int] = None) -> np.ndarray:
        """The game as UMI v1 frames seen by ``port`` against ``opponent`` (default: the other
        player of a two-player game): a structured array of :data:`exphil.umi.FRAME` records
        (``players[0]`` is ``port``), one per frame where both players are present, built by
        exphil's own replay-to-state conversion (what training and ``exphil serve`` see).
        Feed them to :meth:`Policy.step`. The frame rows they came from are
        ``umi_frame_rows(...)``."""
        frames, _ = self._native.umi_frames(int(port), opponent)
        return frames.view(umi.FRAME).reshape(-1)

    def umi_frame_rows(self, port: int, opponent: Optional[int] = None) -> np.ndarray:
        """The frame row (index into :meth:`frames`) of each of :meth:`umi_frames`' frames."""
        _, rows = self._native.umi_frames(int(port), opponent)
        return rows

    def items(self) -> pa.Table:
        """The item records (projectiles, thrown items; Slippi 3.0+), one row per item per
        frame: ``frame``, ``slot``, ``type``, ``state``, ``facing``, ``vx``, ``vy``, ``x``,
        ``y``, ``damage``, ``timer``, ``spawn_id``, ``misc_0..3``, ``owner``, ``instance_id``
        (null where the file's version does not record them). Empty before 3.0."""
        return _table(self._native.item_columns())

    def __repr__(self) -> str:
        return repr(self._native)


def _identity(player: Dict[str, Any]) -> Optional[str]:
    """``name (CODE)`` when known, else the name tag, else ``None`` (as the CLI prints it)."""
    name, code, tag = player.get("netplay_name"), player.get("connect_code"), player.get("name_tag")
    if name and code:
        return f"{name} ({code})"
    return name or tag or None


def read_replay(path: PathLike, rollback: str = "last") -> Game:
    """Reads and decodes one Slippi replay (``.slp``) with exphil's decoder.

    A damaged file (truncated, corrupt) still decodes: every complete frame before the damage is
    kept and :attr:`Game.warnings` says where and why. ``rollback`` picks which copy of a frame
    re-sent by rollback (online play) is kept: ``"last"`` (the confirmed state) or ``"first"``
    (what a live observer saw).

    Raises :class:`ReplayError` (a ``ValueError``) naming the file when it is not a replay,
    cannot be read, or is damaged before its first frame.
    """
    return Game(_native.read_replay(os.fspath(path), rollback))


# Filter keywords of `scan` and `build_dataset`, and the singular spellings also accepted.
_FILTERS = ("characters", "stages", "min_frames", "human_only", "one_v_one", "min_quality",
            "keep_duplicates")
_ALIASES = {"character": "characters", "stage": "stages"}

_SCAN_SCHEMA = pa.schema([
    ("path", pa.string()),
    ("ok", pa.bool_()),
    ("error", pa.string()),
    ("rejected", pa.string()),
    ("bytes", pa.uint64()),
    ("content_hash", pa.string()),
    ("version", pa.string()),
    ("stage", pa.uint16()),
    ("stage_name", pa.string()),
    ("players", pa.uint8()),
    ("ports", pa.list_(pa.uint8())),
    ("characters", pa.list_(pa.string())),
    ("character_ids", pa.list_(pa.uint8())),
    ("names", pa.list_(pa.string())),
    ("cpus", pa.uint8()),
    ("frames", pa.int64()),
    ("seconds", pa.float64()),
    ("end_method", pa.string()),
    ("winner", pa.uint8()),
    ("online", pa.bool_()),
    ("played_on", pa.string()),
    ("start_at", pa.string()),
    ("damaged", pa.bool_()),
    ("quality", pa.uint8()),
    ("warnings", pa.list_(pa.string())),
])


def _filters(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The filter keywords, singular aliases resolved and comma-separated names split."""
    out: Dict[str, Any] = {}
    for key, value in kwargs.items():
        name = _ALIASES.get(key, key)
        if name not in _FILTERS:
            raise TypeError(
                f"unknown filter {key!r}; the filters are {', '.join(_FILTERS)}"
                " (character and stage are accepted too)"
            )
        if name in out:
            raise TypeError(f"filter {name!r} given twice")
        if value is None:
            continue
        if name in ("characters", "stages"):
            value = [value] if isinstance(value, str) else list(value)
            value = [v.strip() for item in value for v in str(item).split(",") if v.strip()]
        out[name] = value
    return out


def scan(
    paths: Union[PathLike, Sequence[PathLike]],
    *,
    metadata_only: bool = False,
    threads: Optional[int] = None,
    include_rejected: bool = False,
    **filters: Any,
) -> pa.Table:
    """Summarises every replay under ``paths`` (folders searched recursively for ``*.slp``;
    files named directly are taken whatever their name), one table row per file, in path order,
    as ``exphil replays scan`` does.

    Filters are keyword arguments mirroring the command line's flags: ``characters`` (or
    ``character``: a name, alias or list, e.g. ``"fox"``, ``["fox", "falco"]``, ``"fox,falco"``),
    ``stages`` (or ``stage``: ``"bf"``, ``"fd"``, ...), ``min_frames``, ``human_only``,
    ``one_v_one``, ``min_quality`` (0-100) and ``keep_duplicates`` (by default a game whose event
    stream hashes like an earlier file's is left out). Rows the filters leave out are dropped,
    unless ``include_rejected=True``, which keeps them with the reason in ``rejected``.

    A file that cannot be read is a row with ``ok = False`` and the reason in ``error`` (its
    other columns null); it never stops the scan. ``metadata_only=True`` reads only Game Start,
    Game End and the metadata block (fast; frame counts from the metadata). ``threads``: worker
    threads (default: all cores).

    Columns: ``path``, ``ok``, ``error``, ``rejected``, ``bytes``, ``content_hash``,
    ``version``, ``stage``, ``stage_name``, ``players``, ``ports``, ``characters``,
    ``character_ids``, ``names``, ``cpus``, ``frames``, ``seconds``, ``end_method``, ``winner``
    (port), ``online``, ``played_on``, ``start_at``, ``damaged``, ``quality``, ``warnings``.

    Raises ``FileNotFoundError`` when a path given does not exist, ``ValueError`` for an
    unknown character or stage name, ``TypeError`` for an unknown filter.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    columns = _native.scan(
        [os.fspath(p) for p in paths],
        metadata_only=metadata_only,
        threads=threads,
        include_rejected=include_rejected,
        **_filters(filters),
    )
    return pa.Table.from_pydict(columns, schema=_SCAN_SCHEMA)


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
    **filters: Any,
) -> Dict[str, Any]:
    """Builds (or updates) a dataset in ``out`` from the replays under ``replays``, as
    ``exphil dataset build`` does: per-game Parquet frame tables and feature shards, reusing what an earlier build of the same settings wrote.

    ``embed``: an embedding preset (``compact``, ``minimal``, ``one_hot``, ``full``) or an
    embedding config file (default: the default embedding). ``validation_fraction`` of the games
    (whole games) are held out, ranked by ``split_seed``. ``frame_delay``: frames between the
    state seen and the input learned. ``mirror`` adds a mirrored copy of each example.
    ``player_port`` / ``train_characters``: whose inputs are learned (default: both players).
    ``precision``: ``"f32"`` or ``"f16"`` features. ``compression``: ``"zstd"`` (the compact
    store, about 0.21× the replays) or ``"none"`` (``.npy`` files NumPy can memory-map).
    Filters as in :func:`scan`.

    Returns the build report (files, games, examples per split, files that failed or were
    filtered out, with reasons). Raises :class:`DatasetError` when the build cannot run at all
    (a bad file is reported, not raised) and ``ValueError`` for bad settings.
    """
    if isinstance(replays, (str, os.PathLike)):
        replays = [replays]
    report = _native.build_dataset(
        [os.fspath(p) for p in replays],
        os.fspath(out),
        embed=embed,
        validation_fraction=validation_fraction,
        split_seed=split_seed,
        frame_delay=frame_delay,
        mirror=mirror,
        player_port=player_port,
        train_characters=list(train_characters),
        precision=precision,
        compression=compression,
        threads=threads,
        no_cache=no_cache,
        filters=_filters(filters),
    )
    return json.loads(report)


class Dataset:
    """A dataset built by ``exphil dataset build`` (or :func:`build_dataset`), served as
    minibatches through exphil's own loader.

    Iterating yields one epoch of batches, each a dict of NumPy arrays; each new iteration is
    the next epoch (reshuffled deterministically from ``seed`` and the epoch number). With ``n``
    examples in a batch, ``F`` features and ``I`` ids per frame:

    - frames (default): ``features`` float32 ``[n, F]``, ``ids`` uint32 ``[n, I]``,
      ``targets`` uint16 ``[n, 6]`` (columns ``buttons`` bitmask, ``main_x``, ``main_y``,
      ``c_x``, ``c_y``, ``shoulder`` classes; each also given under its own name as ``[n]``),
      ``frame`` int32 ``[n]`` (the target's frame id), ``game`` uint32 ``[n]`` (shard index).
    - ``window=W``: windows of ``W`` consecutive frames, the arrays ``[n, W, ...]``.
    - ``unroll=T``: time-major sequence unrolls of ``n = batch_size`` parallel streams (a
      recurrent model carries its state from one batch to the next): ``features`` ``[T, n, F]``,
      ``ids`` ``[T, n, I]``, ``targets`` ``[T, n, 6]``, ``valid`` bool ``[T, n]`` (padding is
      not), ``frame`` ``[T, n]``, ``reset`` bool ``[n]`` (a stream starts a new game segment:
      reset its state), ``game`` ``[n]``.

    ``split``: ``"train"`` (default), ``"val"`` (the held-out games; original examples only,
    never mirrored or noisy copies, unless ``originals_only=False``) or ``"all"``.
    ``shuffle``/``seed``: the order. ``drop_last`` leaves out a short last batch (frames and
    windows). ``segment_frames``: with ``unroll``, frames per shuffled segment (default: 1,024
    rounded up to a multiple of ``unroll`` when shuffling, else whole games).

    Raises :class:`DatasetError` naming the directory when it holds no dataset or a shard
    cannot be read.
    """

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
    ) -> None:
        """Opens the dataset in ``dir`` (see the class docs for the options)."""
        self._native = _native.Dataset(
            os.fspath(dir),
            split=split,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            window=window,
            stride=stride,
            unroll=unroll,
            segment_frames=segment_frames,
            originals_only=originals_only,
            drop_last=drop_last,
            prefetch=prefetch,
        )
        self._info: Optional[Dict[str, Any]] = None
        self._next_epoch = 0
        self._targets: List[str] = list(self.info["target_columns"])

    @property
    def info(self) -> Dict[str, Any]:
        """What the dataset holds (``exphil dataset info``'s ``summary``: games, frames,
        examples per split, sizes, characters, stages, feature layout), how it was built
        (``embed``, ``targets``, ``examples_config``, ``precision``, ``validation_fraction``,
        ``split_seed``) and this loader's selection (``feature_width``, ``id_width``,
        ``target_columns``, ``shards``, ``examples``)."""
        if self._info is None:
            self._info = json.loads(self._native.info_json())
        return self._info

    @property
    def num_examples(self) -> int:
        """Examples (frames or windows) per epoch; with ``unroll``, the frames of all games."""
        return int(self._native.num_examples())

    def __len__(self) -> int:
        """Batches in the next epoch (what one iteration yields)."""
        return int(self._native.batches(self._next_epoch))

    def epoch(self, epoch: int) -> Iterator[Dict[str, np.ndarray]]:
        """The batches of epoch ``epoch`` (the same for the same seed and epoch)."""
        targets = self._targets
        for batch in self._native.epoch(int(epoch)):
            t = batch["targets"]
            for k, name in enumerate(targets):
                batch[name] = t[..., k]
            yield batch

    def __iter__(self) -> Iterator[Dict[str, np.ndarray]]:
        """The next epoch's batches (epoch 0 first, then 1, ...)."""
        epoch = self._next_epoch
        self._next_epoch += 1
        return self.epoch(epoch)

    def __repr__(self) -> str:
        return f"<exphil.Dataset {self._native.dir}: {self.num_examples} examples>"


def _frame_bytes(frame: Any) -> bytes:
    """The 770 packed bytes of one UMI v1 frame given as a record, array or bytes."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
    else:
        a = np.asarray(frame)
        if a.dtype.names is not None and a.size == 1:
            if a.dtype != umi.FRAME:
                raise ValueError(
                    f"a UMI v1 frame has dtype exphil.umi.FRAME (umi.frame.FRAME), not {a.dtype}")
            data = a.tobytes()
        elif a.dtype == np.uint8 and a.size == umi.FRAME_BYTES:
            data = a.tobytes()
        else:
            raise ValueError(
                "a UMI v1 frame is one record of exphil.umi.FRAME (umi.frame.FRAME) or its "
                f"{umi.FRAME_BYTES} bytes, not an array of dtype {a.dtype} and shape {a.shape}")
    if len(data) != umi.FRAME_BYTES:
        raise ValueError(f"a UMI v1 frame is {umi.FRAME_BYTES} bytes, not {len(data)}")
    return data


class Policy:
    """A trained exphil policy playing one seat, frame by frame, as ``exphil serve`` plays it.

    ``run``: a run directory (the latest weights), a checkpoint directory or a weights file.
    ``deterministic`` takes the most likely controller; otherwise the policy samples with
    ``temperature`` (seeded by ``seed``). ``delay``: the frames between the state seen and the
    input played that the policy is told (default: the delay it was trained with). ``device``:
    ``"cpu"`` (or a GPU in a build with one).

    Each :meth:`step` takes one UMI v1 frame (a record of :data:`exphil.umi.FRAME`, e.g. from
    ``umi-melee``'s arena or :meth:`Game.umi_frames`, or its 770 bytes) and returns the
    controller: ``main_x``, ``main_y``, ``c_x``, ``c_y``, ``shoulder`` (0..1, 0.5 neutral
    stick), ``buttons`` (``{"A": bool, ...}``), ``row`` (the UMI controller row, float32 [13])
    and ``anomalous`` (the frame had out-of-range values: the previous controller is repeated,
    as the UMI session does). Before "GO" (negative frame ids) the controller is neutral. A
    frame id not after the previous one starts a new game (memory reset), as does
    :meth:`reset`.

    Raises :class:`PolicyError` naming the file when the policy cannot be loaded.
    """

    def __init__(
        self,
        run: PathLike,
        *,
        deterministic: bool = False,
        temperature: float = 1.0,
        delay: Optional[int] = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        """Loads the policy (see the class docs)."""
        if not hasattr(_native, "Policy"):
            raise PolicyError("this build of exphil has no policy support (built without the "
                              "`policy` feature)")
        self._native = _native.Policy(os.fspath(run), deterministic=deterministic,
                                      temperature=temperature, delay=delay, seed=seed,
                                      device=device)
        self._info: Optional[Dict[str, Any]] = None

    @property
    def info(self) -> Dict[str, Any]:
        """What the policy is: ``name``, ``path``, ``run_dir``, ``backbone``, ``params``,
        ``trained_characters``, ``trained_frame_delay``, ``delay``, ``deterministic``,
        ``temperature`` and the architecture (``policy``)."""
        if self._info is None:
            self._info = json.loads(self._native.info_json())
        return self._info

    @property
    def delay(self) -> int:
        """The delay (frames) the policy is told it plays with."""
        return int(self._native.delay)

    def step(self, frame: Any) -> Dict[str, Any]:
        """The controller for one UMI v1 frame (see the class docs)."""
        out = self._native.step(_frame_bytes(frame))
        out["row"] = np.asarray(out["row"], dtype=np.float32)
        return out

    def reset(self) -> None:
        """Starts a new game at the next step (the policy's memory is cleared)."""
        self._native.reset()

    def __repr__(self) -> str:
        return repr(self._native)


def write_untrained_policy(path: PathLike, hidden: int = 16, frame_delay: int = 0) -> None:
    """Writes an untrained policy (a tiny MLP with random weights, the default embedding) as a
    weights file ``exphil train`` could have written: for tests and examples that need a
    :class:`Policy` without training one. Its controllers are meaningless."""
    if not hasattr(_native, "write_untrained_policy"):
        raise PolicyError("this build of exphil has no policy support")
    _native.write_untrained_policy(os.fspath(path), hidden=hidden, frame_delay=frame_delay)
