"""Which courtroom seat each microphone channel of a recording is, and who sits there.

A courtroom records one microphone per seat on its own channel (JAVS keeps five, FTR several; 科技法庭 systems
preset the roles by seat). A channel map is one `ChannelSeat` per channel, in channel order, written the same
way on the CLI (`--channels 审判长,原告,被告,-`), in a courtroom profile and in a job's options:

    审判长                 a role; its seat is the role's usual one (审判席)
    原告席:原告             a seat and the role sitting there
    原告席:原告+代理人       a seat shared by two people: diarized within its channel
    -                      ignored (a spare input, a recorder's own track)
    mix                    the room's mix: played back, never taken for a seat

Plain data, no numpy: the store, the CLI and the pages import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IGNORE = "-"
MIX = "mix"

# The seats of a Chinese courtroom, and the seat a role sits at when only the role is given.
SEATS = ("审判席", "原告席", "被告席", "第三人席", "证人席", "书记员席", "公诉人席", "辩护人席")
DEFAULT_SEAT = {
    "审判长": "审判席",
    "审判员": "审判席",
    "人民陪审员": "审判席",
    "原告": "原告席",
    "被告": "被告席",
    "第三人": "第三人席",
    "证人": "证人席",
    "鉴定人": "证人席",
    "书记员": "书记员席",
    "公诉人": "公诉人席",
    "辩护人": "辩护人席",
    "代理人": "原告席",
}
ITEM_MAX_CHARS = 40
MAX_CHANNELS = 32


class SeatsError(ValueError):
    """A channel map that cannot be read; the message names the item and what is expected."""


@dataclass(frozen=True, slots=True)
class ChannelSeat:
    """One channel: its seat and the roles sitting there; `seat` is "-" (ignored) or "mix" for no seat."""

    seat: str
    roles: tuple[str, ...] = ()

    @property
    def is_seat(self) -> bool:
        """A seat someone speaks from (not ignored, not the room's mix)."""
        return self.seat not in (IGNORE, MIX)

    @property
    def shared(self) -> bool:
        """Two or more people at one microphone: the channel is diarized within itself."""
        return len(self.roles) > 1

    @property
    def role(self) -> str | None:
        """The one role at a seat of one person; None at a shared seat, an ignored channel or the mix."""
        return self.roles[0] if len(self.roles) == 1 else None

    def spec(self) -> str:
        """The item as written: "-", "mix", "原告席:原告", "原告席:原告+代理人"."""
        if not self.is_seat:
            return self.seat
        return f"{self.seat}:{'+'.join(self.roles)}" if self.roles else self.seat


def parse_item(item: str) -> ChannelSeat:
    text = item.strip()
    if not text:
        raise SeatsError("声道映射有空项 (empty channel item): write a role, SEAT:ROLE, '-' or 'mix'")
    if len(text) > ITEM_MAX_CHARS:
        raise SeatsError(f"声道项过长 (channel item longer than {ITEM_MAX_CHARS} characters): {text[:20]}…")
    if text in (IGNORE, MIX):
        return ChannelSeat(text)
    seat, colon, roles_text = text.partition(":")
    if not colon:  # a role, or roles, alone: the first role's usual seat
        roles = _roles(seat, text)
        first = roles[0]
        return ChannelSeat(DEFAULT_SEAT.get(first, f"{first}席"), roles)
    seat = seat.strip()
    if not seat or seat in (IGNORE, MIX):
        raise SeatsError(f"声道项 {text!r} 缺少席位 (no seat before ':')")
    return ChannelSeat(seat, _roles(roles_text, text))


def _roles(text: str, item: str) -> tuple[str, ...]:
    roles = tuple(r.strip() for r in text.split("+"))
    if not roles or any(not r for r in roles):
        raise SeatsError(f"声道项 {item!r} 缺少角色 (a role is missing; write e.g. 原告席:原告+代理人)")
    if len(set(roles)) != len(roles):
        raise SeatsError(f"声道项 {item!r} 角色重复 (a role is named twice)")
    return roles


def parse_channels(text: str | Iterable[str]) -> tuple[ChannelSeat, ...]:
    """`"审判长,原告,被告,-"` (or its items) to one ChannelSeat per channel; raises SeatsError."""
    items = text.replace("，", ",").split(",") if isinstance(text, str) else list(text)
    if not items or all(not str(i).strip() for i in items):
        raise SeatsError("声道映射为空 (no channels given)")
    if len(items) > MAX_CHANNELS:
        raise SeatsError(f"声道过多 (more than {MAX_CHANNELS} channels)")
    seats = tuple(parse_item(str(i)) for i in items)
    if not any(s.is_seat for s in seats):
        raise SeatsError("声道映射中没有席位 (every channel is '-' or 'mix': no one to attribute speech to)")
    return seats


def channels_spec(seats: Sequence[ChannelSeat]) -> tuple[str, ...]:
    """The items as written, one per channel (what options, profiles and EngineInfo store)."""
    return tuple(s.spec() for s in seats)
