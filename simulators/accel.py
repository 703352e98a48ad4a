"""Waist-worn accelerometer blocks consistent with what each resident is doing, and the pattern of a fall.

Axes follow the SisFall waist device (and the alert core's fall detector): upright, gravity reads ``(0, -1, 0)`` g
(y along the body's long axis, z front-back, x side-to-side). Blocks are generated in this canonical frame; each
resident's device is clipped on slightly askew (a fixed rotation of up to ``MAX_MOUNT_TILT_DEG``), applied last by
`mount`, so scenarios can write falls in the canonical frame.

- Lying, sitting, standing: gravity for the posture (sitting leans back 30 degrees, as SisFall's sitting trials
  do) plus sensor noise and postural sway; a posture change turns gravity smoothly over ``TRANSITION_S``.
- Walking: a vertical oscillation at the step frequency with its first harmonic, a front-back component a quarter
  cycle later and a side-to-side sway at half the step frequency; amplitudes of older adults' gait (peaks about
  1.3-1.5 g, well below a fall's impact). The gait phase runs on across blocks.
- A fall (`fall_pattern`): loss of balance with partial free fall and the body turning, an impact spike on the
  sample nearest the impact time, damped rebounds, then lying still in the new orientation.
"""

from __future__ import annotations

import numpy as np

from simulators.state import BoolArray, FloatArray, IntArray, Posture

UPRIGHT = np.array([0.0, -1.0, 0.0])
SITTING = np.array([0.0, -np.cos(np.radians(30)), -np.sin(np.radians(30))])
LYING_SIDES = np.array([[0.0, -0.25, 0.97], [-0.97, -0.25, 0.0], [0.97, -0.25, 0.0], [0.0, -0.2, -0.98]])
LYING_SIDES /= np.linalg.norm(LYING_SIDES, axis=1, keepdims=True)
MAX_MOUNT_TILT_DEG = 12.0
TRANSITION_S = 1.0  # sitting down, standing up, lying down: the trunk turns within about a second
SENSOR_NOISE_G = 0.008  # a MEMS accelerometer at rest
SWAY_G = np.array([0.004, 0.008, 0.02, 0.0])  # postural sway by Posture (lying, sitting, standing, walking)
FIDGET_G = 0.05  # small movements that a PIR sees
GAIT_VERTICAL_G = (0.18, 0.32)  # vertical acceleration amplitude of older adults' gait at the waist
GAIT_AP_SHARE = 0.5  # front-back amplitude relative to the vertical
GAIT_ML_SHARE = 0.35  # side-to-side amplitude relative to the vertical


def gravity(posture: IntArray, side: IntArray) -> FloatArray:
    """Unit gravity vectors ``(m, 3)`` in the canonical frame for postures and lying sides ``(m,)``."""
    g = np.where((posture == Posture.SITTING)[:, None], SITTING, UPRIGHT)
    return np.where((posture == Posture.LYING)[:, None], LYING_SIDES[side], g)


class Accelerometer:
    """Per-resident gait and orientation state; one ``block`` per tick for the residents whose device streams."""

    def __init__(self, n: int, rng: np.random.Generator, cadence_hz: FloatArray) -> None:
        self._rng = rng
        self._cadence = cadence_hz
        self._amplitude = rng.uniform(*GAIT_VERTICAL_G, n)
        self._phase = rng.uniform(0, 2 * np.pi, n)
        self._gravity = np.tile(SITTING, (n, 1))
        self._mount = _rotations(rng, n, np.radians(MAX_MOUNT_TILT_DEG))

    def block(self, rows: IntArray, offsets: FloatArray, posture: IntArray, side: IntArray,
              moving: BoolArray) -> FloatArray:  # fmt: skip
        """Samples ``(m, n, 3)`` in g, canonical frame, of residents ``rows`` ``(m,)`` at ``offsets`` ``(n,)``
        seconds into the tick; ``posture``, ``side`` and ``moving`` are theirs ``(m,)``."""
        m, n = rows.shape[0], offsets.shape[0]
        target = gravity(posture, side)
        turn = np.clip(offsets / TRANSITION_S, 0.0, 1.0)[None, :, None]
        g = self._gravity[rows, None, :] * (1.0 - turn) + target[:, None, :] * turn
        g /= np.linalg.norm(g, axis=2, keepdims=True)
        self._gravity[rows] = target
        sd = SENSOR_NOISE_G + SWAY_G[posture] + np.where(moving & (posture != Posture.WALKING), FIDGET_G, 0.0)
        out = g + self._rng.normal(0.0, 1.0, (m, n, 3)) * sd[:, None, None]
        walking = np.flatnonzero(posture == Posture.WALKING)
        if walking.size:
            out[walking] += self._gait(rows[walking], offsets)
        dt = offsets[-1] + (offsets[1] - offsets[0] if n > 1 else 1.0)
        self._phase[rows] = (self._phase[rows] + 2 * np.pi * self._cadence[rows] * dt) % (2 * np.pi)
        return out

    def mount(self, rows: IntArray, block: FloatArray) -> FloatArray:
        """Blocks ``(m, n, 3)`` rotated into each resident's device frame."""
        rotated: FloatArray = np.einsum("mij,mnj->mni", self._mount[rows], block)
        return rotated

    def _gait(self, rows: IntArray, offsets: FloatArray) -> FloatArray:
        """The dynamic part of walking, ``(w, n, 3)``."""
        angle = self._phase[rows, None] + 2 * np.pi * self._cadence[rows, None] * offsets[None, :]
        a = self._amplitude[rows, None]
        vertical = a * (np.sin(angle) + 0.3 * np.sin(2 * angle))
        front = GAIT_AP_SHARE * a * np.sin(angle + np.pi / 2)
        side = GAIT_ML_SHARE * a * np.sin(angle / 2)
        return np.stack([side, -vertical, front], axis=2)


def fall_pattern(tau: FloatArray, rate_hz: float, before: FloatArray, after: FloatArray, peak_g: float,
                 descent_s: float, free_fall_g: float, rng: np.random.Generator) -> FloatArray:  # fmt: skip
    """Samples ``(n, 3)`` around a fall at times ``tau`` ``(n,)`` seconds after the impact, canonical frame.

    ``before`` and ``after`` are unit gravity vectors of the postures before and after; during the ``descent_s``
    before the impact |a| dips towards ``free_fall_g`` as the body turns; the sample nearest the impact carries
    ``peak_g``; rebounds decay within half a second; then the body lies still. Samples before the descent are NaN:
    the caller keeps its own (the resident's activity up to the fall).
    """
    out = np.full((tau.shape[0], 3), np.nan)
    descending = (tau >= -descent_s) & (tau < -0.5 / rate_hz)
    progress = (tau[descending] + descent_s) / descent_s
    direction = before * (1.0 - progress[:, None]) + after * progress[:, None]
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    dip = 1.0 - (1.0 - free_fall_g) * np.sin(np.pi * progress)
    out[descending] = direction * dip[:, None]
    impact_dir = after + rng.normal(0.0, 0.25, 3)
    impact_dir /= np.linalg.norm(impact_dir)
    after_impact = tau >= -0.5 / rate_hz
    settle = np.maximum(tau[after_impact], 0.0)
    rebound = 0.45 * peak_g * np.exp(-settle / 0.08) * np.cos(2 * np.pi * 6.0 * settle)
    noise = rng.normal(0.0, 1.0, (settle.shape[0], 3)) * (SENSOR_NOISE_G + 0.1 * np.exp(-settle / 0.2))[:, None]
    out[after_impact] = after + rebound[:, None] * impact_dir + noise
    nearest = np.flatnonzero(after_impact & (np.abs(tau) <= 0.5 / rate_hz))
    out[nearest] = peak_g * impact_dir
    return out


def _rotations(rng: np.random.Generator, n: int, max_angle: float) -> FloatArray:
    """``n`` random rotation matrices ``(n, 3, 3)`` by up to ``max_angle`` radians (Rodrigues' formula)."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.uniform(0.0, max_angle, n)
    k = np.zeros((n, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= k.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)
