"""Pure helpers of the job manager."""

from __future__ import annotations

from procrastinate import manager


def test_channels() -> None:
    assert manager.get_channel_for_queues(None) == ["procrastinate_any_queue_v1"]
    assert manager.get_channel_for_queues(["a", "b"]) == [
        "procrastinate_queue_v1#a",
        "procrastinate_queue_v1#b",
    ]


def test_long_queue_channels_are_cut_at_63_bytes_on_a_character() -> None:
    channel = manager.queue_channel("€" * 30)
    assert len(channel.encode()) <= 63
    assert len((channel + "€").encode()) > 63
    # Two queues sharing a long prefix share the channel, listed once.
    assert len(manager.get_channel_for_queues(["x" * 60 + "1", "x" * 60 + "2"])) == 1


def test_json_arguments() -> None:
    from procrastinate import connector

    assert connector.is_json_argument({"a": 1})
    assert connector.is_json_argument([{"a": 1}, {"b": 2}])
    assert not connector.is_json_argument(["queue_a", "queue_b"])
    assert not connector.is_json_argument([])
    assert not connector.is_json_argument("text")
