#!/usr/bin/env python3
"""Synthesises Vestibule's ringtone, assets/ringtone.wav (CC0, see README).

A soft two-note bell figure (B5 then E6, each with a few decaying partials), played twice and
followed by a pause, so that it loops as a 2.4 s ring cycle. Pure standard library: run it again
to reproduce the file bit for bit.
"""
import math
import struct
import wave
from pathlib import Path

RATE = 24_000
CYCLE_S = 2.4
NOTES = [(0.00, 987.77), (0.18, 1318.51), (0.60, 987.77), (0.78, 1318.51)]  # (start s, Hz)
PARTIALS = [(1.0, 1.0), (2.0, 0.35), (3.01, 0.15), (4.2, 0.06)]  # (ratio, gain)
NOTE_S = 0.9
DECAY_PER_S = 6.0


def sample(t: float) -> float:
    v = 0.0
    for start, freq in NOTES:
        dt = t - start
        if 0.0 <= dt < NOTE_S:
            attack = min(1.0, dt / 0.004)  # 4 ms attack: no click
            envelope = attack * math.exp(-DECAY_PER_S * dt)
            v += envelope * sum(g * math.sin(2 * math.pi * freq * r * dt) for r, g in PARTIALS)
    return v


def main() -> None:
    frames = [sample(i / RATE) for i in range(int(CYCLE_S * RATE))]
    peak = max(abs(f) for f in frames) or 1.0
    pcm = b"".join(struct.pack("<h", int(32767 * 0.8 * f / peak)) for f in frames)
    out = Path(__file__).resolve().parent.parent / "assets" / "ringtone.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    print(f"wrote {out} ({len(pcm)} bytes of PCM)")


if __name__ == "__main__":
    main()
