"""The generated rooms' vocabulary: object categories and colour names (with the colours they are drawn in).

The simulator builds its rooms from these, and the VLA policy's instruction vocabulary is made of them, so they
live below both (the policy reads them without importing the simulator)."""

from __future__ import annotations

COLOURS = {
    "red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 200), "yellow": (230, 200, 40),
    "orange": (240, 130, 30), "purple": (130, 50, 170), "white": (235, 235, 235), "black": (30, 30, 30),
}  # fmt: skip
FURNITURE_COLOURS = {"brown": (120, 80, 45), "grey": (128, 128, 128), "white": (225, 225, 220), "black": (40, 40, 40)}
WALL_COLOURS = {"beige": (215, 200, 170), "light blue": (170, 200, 225), "light green": (180, 215, 180),
                "pink": (230, 185, 195), "light grey": (200, 200, 200)}  # fmt: skip
FURNITURE = ("table", "chair", "sofa", "bed", "shelf", "cabinet")
SMALL = ("cup", "book", "lamp", "vase", "box", "ball", "bottle", "plant")
