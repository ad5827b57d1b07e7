"""The UMI v1 frame record (the Computer Melee Championship bot protocol's observation) as NumPy
structured dtypes: the packed little-endian layout of the PyPI package ``umi-melee``'s
``umi.frame`` (770 bytes a frame), which :meth:`exphil.Game.umi_frames` returns and
:meth:`exphil.Policy.step` takes. The tests check these dtypes equal ``umi.frame``'s."""

import numpy as np

__all__ = ["BUTTONS", "CONTROLLER", "FIGHTER", "FRAME", "FRAME_BYTES", "ITEM", "MAX_ITEMS"]

#: The frame's button bitmask: bit ``i`` is ``BUTTONS[i]``.
BUTTONS = ("A", "B", "X", "Y", "Z", "L", "R", "D_UP")

#: The input that produced a fighter's frame (sticks and shoulder 0..1, 0.5 neutral stick).
CONTROLLER = np.dtype([
    ("main_x", "<f4"), ("main_y", "<f4"), ("c_x", "<f4"), ("c_y", "<f4"),
    ("shoulder", "<f4"), ("buttons", "u1"),
])

#: One fighter (a player, or Ice Climbers' Nana).
FIGHTER = np.dtype([
    ("exists", "u1"), ("character", "u1"), ("stocks", "u1"), ("facing", "u1"),
    ("on_ground", "u1"), ("invulnerable", "u1"), ("hurtbox_state", "u1"), ("jumps_left", "u1"),
    ("action", "<u2"), ("action_frame", "<i2"),
    ("percent", "<u2"), ("hitlag_left", "<u2"), ("hitstun_left", "<u2"),
    ("x", "<f4"), ("y", "<f4"), ("shield_strength", "<f4"),
    ("speed_air_x_self", "<f4"), ("speed_ground_x_self", "<f4"), ("speed_y_self", "<f4"),
    ("speed_x_attack", "<f4"), ("speed_y_attack", "<f4"),
    ("controller", CONTROLLER),
])

#: One item slot.
ITEM = np.dtype([
    ("exists", "u1"), ("type", "<u2"), ("state", "u1"), ("owner", "i1"),
    ("x", "<f4"), ("y", "<f4"), ("vx", "<f4"), ("vy", "<f4"),
    ("spawn_id", "<u4"), ("timer", "<f4"), ("damage", "<u2"),
])

#: Item slots per frame.
MAX_ITEMS = 15

#: One frame: ``players[0]`` is the bot, ``players[1]`` its opponent.
FRAME = np.dtype([
    ("frame", "<i4"), ("stage", "u1"),
    ("randall_x", "<f4"), ("randall_y", "<f4"), ("fod_left", "<f4"), ("fod_right", "<f4"),
    ("players", FIGHTER, (2,)), ("nana", FIGHTER, (2,)), ("items", ITEM, (MAX_ITEMS,)),
])

#: Bytes of one packed frame.
FRAME_BYTES = FRAME.itemsize
assert FRAME_BYTES == 770
