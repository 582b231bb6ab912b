"""Per-view token cache: a growing set of views (a robot's keyframes) is encoded once per view.

A keyframe memory changes by one view at a time, and the QA pipeline re-selects its views
after every new keyframe. Without a cache every question after a new keyframe re-encoded
all the selected views (12 vision-tower passes for one new image). The cache wraps a
tokenizer (`Sequence[Frame] -> VisualTokens`) whose views are encoded independently of each
other (every encoder in segpilot: a vision tower sees one image at a time), encodes only
the frames it has not seen, and concatenates the per-view tokens in the requested order.
Frames are identified by object identity, so the cache holds each frame it keys (an id
cannot be reused while its entry lives); the least recently used entries beyond `capacity`
are dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.perception.tokens import VisualTokens


class ViewTokenCache:
    """A tokenizer that encodes each frame once and remembers its tokens (the newest `capacity` frames)."""

    def __init__(self, tokenize: Callable[[Sequence[Frame]], VisualTokens], capacity: int):
        if capacity < 1:
            raise SegpilotError(f"ViewTokenCache capacity must be >= 1, got {capacity}")
        self.tokenize, self.capacity = tokenize, capacity
        self._entries: OrderedDict[int, tuple[Frame, VisualTokens]] = OrderedDict()
        self.encoded_views = 0
        """Views sent to the tokenizer since the cache was made (a test and a benchmark read it)."""

    def __call__(self, frames: Sequence[Frame]) -> VisualTokens:
        if not frames:
            raise SegpilotError("no frames to tokenize")
        missing = list({id(f): f for f in frames if id(f) not in self._entries}.values())
        if missing:
            tokens = self.tokenize(missing)
            self.encoded_views += len(missing)
            for v, frame in enumerate(missing):
                self._entries[id(frame)] = (frame, view_tokens(tokens, v))
        parts = []
        for frame in frames:
            self._entries.move_to_end(id(frame))
            parts.append(self._entries[id(frame)][1])
        while len(self._entries) > max(self.capacity, len(frames)):
            self._entries.popitem(last=False)
        return VisualTokens.concat(parts)

    def clear(self) -> None:
        self._entries.clear()


def view_tokens(tokens: VisualTokens, view: int) -> VisualTokens:
    """The tokens of one view of `tokens`, as view 0 of a one-view set."""
    one = tokens.subset(torch.nonzero(tokens.view == view).flatten())
    return replace(one, view=torch.zeros_like(one.view))
